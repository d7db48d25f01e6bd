import re

import textstats


def test_package_imports():
    assert textstats.__doc__


def test_version_is_semantic():
    assert re.fullmatch(r"\d+\.\d+\.\d+", textstats.__version__)
