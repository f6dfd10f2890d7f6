"""exo v1 (exo-explore/exo since December 2025): its cards as costs, the plan for its placement, its API.

`exo-gay place` (commands/place.py) uses plan and client from outside exo; adapter is the
in-process way for a patched exo master. Nothing here imports exo except adapter, lazily.
See docs/exo-v1.md.
"""
