"""tpu entry points"""
