"""Packaging beyond pyproject.toml: the wheel carries the rule pack.

rules/ stays at the top of the repository, where informaticists edit it; in the wheel it
becomes the data package `cds._pack` (every file of rules/ and its folders), which
`cds.settings.BUNDLED_RULES_DIR` finds when the service is installed.
"""

from setuptools import find_namespace_packages, setup

PACK = "cds._pack"
PACK_FOLDERS = [PACK, *(f"{PACK}.{name}" for name in find_namespace_packages("rules"))]

setup(
    packages=[
        *find_namespace_packages(include=["cds", "cds.*"], exclude=["*__pycache__"]),
        *PACK_FOLDERS,
    ],
    package_dir={PACK: "rules"},
    package_data={"cds": ["py.typed", "dryrun/templates/*.j2", "population/*.yaml"],
                  **{name: ["*"] for name in PACK_FOLDERS}},
)
