"""Only for what pyproject.toml cannot say: ship exo_gay_hook.pth into site-packages.

The .pth runs at interpreter start and imports exo_gay._exo_hook only when
EXO_PARTITIONING_STRATEGY=gay, so `EXO_PARTITIONING_STRATEGY=gay python -m exo.main` selects
the gay strategy with exo's own command. A wheel (`pip install .`) carries it at the root of
purelib; an editable install (`pip install -e .`) gets it written beside setuptools'
__editable__ .pth (files in the unpacked editable wheel are installed as they are).
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = Path(__file__).parent / "exo_gay" / "data" / "exo_gay_hook.pth"


class build_py_with_pth(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            target = self.get_finalized_command("install").install_lib
        else:
            target = self.build_lib
        self.copy_file(str(PTH), str(Path(target, PTH.name)))


setup(cmdclass={"build_py": build_py_with_pth})
