"""jobs entry points"""
