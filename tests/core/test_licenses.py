import pytest

from galvasr.licenses import LICENSES, License, Rejection, normalize_license

# Spellings seen in archive.org's licenseurl field, and their license.
KEPT = [
    ("http://creativecommons.org/licenses/by/3.0/", "cc-by"),
    ("https://creativecommons.org/licenses/by/3.0/", "cc-by"),
    ("http://creativecommons.org/licenses/by/3.0", "cc-by"),
    ("creativecommons.org/licenses/by/3.0/", "cc-by"),
    ("//creativecommons.org/licenses/by/2.0/", "cc-by"),
    ("http://www.creativecommons.org/licenses/by/2.5/", "cc-by"),
    ("https://creativecommons.org/licenses/by/4.0/", "cc-by"),
    ("https://creativecommons.org/licenses/by/4.0/deed.en", "cc-by"),
    ("https://creativecommons.org/licenses/by/4.0/deed.es_ES", "cc-by"),
    ("https://creativecommons.org/licenses/by/4.0/legalcode", "cc-by"),
    ("https://creativecommons.org/licenses/by/4.0/legalcode.de", "cc-by"),
    ("https://creativecommons.org/licenses/by/4.0/legalcode.txt", "cc-by"),
    ("http://creativecommons.org/licenses/by/1.0/", "cc-by"),
    ("http://creativecommons.org/licenses/by/3.0/us/", "cc-by"),
    ("http://creativecommons.org/licenses/by/2.5/scotland/", "cc-by"),
    ("http://creativecommons.org/licenses/by/3.0/igo/", "cc-by"),
    ("http://creativecommons.org/licenses/by/2.1/jp/deed.ja", "cc-by"),
    ("HTTP://CreativeCommons.org/Licenses/BY/3.0/", "cc-by"),
    ("  http://creativecommons.org/licenses/by/3.0/\n", "cc-by"),
    ("https://creativecommons.org/licenses/by/4.0/?ref=chooser-v1", "cc-by"),
    ("https://creativecommons.org/licenses/by/4.0/#", "cc-by"),
    ("http://creativecommons.org/licenses/by-sa/3.0/", "cc-by-sa"),
    ("https://creativecommons.org/licenses/by-sa/4.0/deed.en", "cc-by-sa"),
    ("https://creativecommons.org/licenses/by-sa/4.0/legalcode", "cc-by-sa"),
    ("http://creativecommons.org/licenses/by-sa/2.0/uk/", "cc-by-sa"),
    ("http://creativecommons.org/licenses/by-sa/3.0/deed.en_US", "cc-by-sa"),
    ("http://creativecommons.org/licenses/by-sa/2.5/es-ct/", "cc-by-sa"),
    ("http://creativecommons.org/publicdomain/zero/1.0/", "cc0"),
    ("https://creativecommons.org/publicdomain/zero/1.0/", "cc0"),
    ("https://creativecommons.org/publicdomain/zero/1.0/legalcode", "cc0"),
    ("https://creativecommons.org/publicdomain/zero/1.0/deed.en", "cc0"),
    ("http://creativecommons.org/publicdomain/mark/1.0/", "public-domain"),
    ("https://creativecommons.org/publicdomain/mark/1.0/deed.en", "public-domain"),
    ("http://creativecommons.org/licenses/publicdomain/", "public-domain"),
    ("http://creativecommons.org/licenses/publicdomain", "public-domain"),
]

REFUSED = [
    ("http://creativecommons.org/licenses/by-nc/3.0/", "license:cc-by-nc"),
    ("https://creativecommons.org/licenses/by-nc/4.0/deed.en", "license:cc-by-nc"),
    ("http://creativecommons.org/licenses/by-nc/2.5/us/", "license:cc-by-nc"),
    ("http://creativecommons.org/licenses/by-nd/3.0/", "license:cc-by-nd"),
    ("https://creativecommons.org/licenses/by-nd/4.0/legalcode", "license:cc-by-nd"),
    ("http://creativecommons.org/licenses/by-nc-sa/3.0/", "license:cc-by-nc-sa"),
    ("https://creativecommons.org/licenses/by-nc-sa/4.0/", "license:cc-by-nc-sa"),
    ("http://creativecommons.org/licenses/by-nc-nd/3.0/", "license:cc-by-nc-nd"),
    ("http://creativecommons.org/licenses/by-nd-nc/1.0/", "license:cc-by-nc-nd"),
    ("http://creativecommons.org/licenses/nc/1.0/", "license:cc-by-nc"),
    ("http://creativecommons.org/licenses/sampling+/1.0/", "license:cc-sampling"),
    (None, "license:missing"),
    ("", "license:missing"),
    ("   ", "license:missing"),
    ("All rights reserved", "license:all-rights-reserved"),
    ("Copyright 2011 Someone. All Rights Reserved.", "license:all-rights-reserved"),
    ("http://rightsstatements.org/vocab/InC/1.0/", "license:all-rights-reserved"),
    ("https://www.gnu.org/licenses/gpl-3.0.html", "license:unknown"),
    ("http://example.org/licenses/by/3.0/", "license:unknown"),
    ("http://creativecommons.org.evil.example/licenses/by/3.0/", "license:unknown"),
    ("http://evil.example/creativecommons.org/licenses/by/3.0/", "license:unknown"),
    ("http://creativecommons.org/licenses/by/", "license:unknown"),
    ("http://creativecommons.org/licenses/by/5.0/", "license:unknown"),
    ("http://creativecommons.org/licenses/by/3.0/us/extra/", "license:unknown"),
    ("http://creativecommons.org/licenses/by-foo/3.0/", "license:unknown"),
    ("http://creativecommons.org/publicdomain/zero/2.0/", "license:unknown"),
    ("http://creativecommons.org/publicdomain/", "license:unknown"),
    ("http://creativecommons.org/", "license:unknown"),
    ("public domain", "license:unknown"),
    ("cc-by", "license:unknown"),
    (["http://creativecommons.org/licenses/by/3.0/"], "license:unknown"),
    (3, "license:unknown"),
    # Only http and https (or no scheme) name a license page.
    ("javascript://creativecommons.org/licenses/by/4.0/", "license:unknown"),
    ("ftp://creativecommons.org/licenses/by/4.0/", "license:unknown"),
    ("data://creativecommons.org/licenses/by/4.0/", "license:unknown"),
    ("file://creativecommons.org/licenses/by/4.0/", "license:unknown"),
    ("javascript:alert(1)//creativecommons.org/licenses/by/4.0/", "license:unknown"),
    # A component with a trailing newline is no jurisdiction or language page.
    ("http://creativecommons.org/licenses/by/3.0/us\n/", "license:unknown"),
    ("http://creativecommons.org/licenses/by/3.0/deed.en\n/", "license:unknown"),
]


@pytest.mark.parametrize(("url", "name"), KEPT)
def test_free_licenses_are_kept(url, name):
    assert normalize_license(url) == License(name)
    assert name in LICENSES


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_other_licenses_are_refused_with_a_reason(url, reason):
    result = normalize_license(url)
    assert isinstance(result, Rejection)
    assert result.reason == reason
    assert result.detail
