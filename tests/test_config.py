"""Settings: docs/configuration.md is what soundlab/config.py says, and it lists every variable the code reads."""

import re

from soundlab.config import SETTINGS, settings_markdown
from tests.assets import ROOT


def test_the_configuration_page_is_generated_from_the_settings():
    page = (ROOT / "docs" / "configuration.md").read_text()
    assert page == settings_markdown(), ("docs/configuration.md differs from soundlab/config.py: regenerate it with "
                                         "`python -m soundlab settings --markdown > docs/configuration.md`")


def test_every_variable_the_code_reads_is_documented():
    used = set()
    for folder in ("soundlab", "components", "pages", "scripts", "tests", "bench", ".ci"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".sh", ".toml", "") and path.is_file() and ".venv" not in path.parts:
                used |= set(re.findall(r"SOUNDLAB_[A-Z0-9_]+", path.read_text(errors="ignore")))
    for path in (ROOT / "app.py", ROOT / "Home.py"):
        used |= set(re.findall(r"SOUNDLAB_[A-Z0-9_]+", path.read_text()))
    documented = {x.name for x in SETTINGS}
    assert used <= documented, f"undocumented settings: {sorted(used - documented)}"
    assert documented <= used, f"documented but never read: {sorted(documented - used)}"
