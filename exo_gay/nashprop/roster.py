"""Who is in the run, as one member sees it: pure, fed by liveliness events.

A name keeps the first key it was seen with for the whole run: a later token with another key
for that name (a re-claim after the member died, or an impostor while it lives) is ignored once
the member set is settled; while settling, two keys for one name mean the set cannot be agreed
(every member that sees both exits 1). With a shared key (``--key-file``) a token counts only
when it carries the key's MAC over (session, name, public key): without the key nobody joins.
With key pairs (``--key-file`` a secret from `exo-gay keygen`, ``--cluster`` naming every
member's public key) a token counts only with the public key the cluster file gives that name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from . import records as R

log = logging.getLogger(__name__)


@dataclass
class Roster:
    session: str
    key: bytes | None = None
    trusted: dict[str, str] | None = None  # with key pairs: each member's only public key (hex)
    keys: dict[str, str] = field(default_factory=dict)  # name -> its first public key (hex)
    alive: set[str] = field(default_factory=set)
    left: set[str] = field(default_factory=set)  # names whose first key's token went away
    settled: bool = False
    conflict: str | None = None
    ignored: int = 0  # tokens refused (no MAC, wrong MAC, a second key after settling)

    def token_ok(self, name: str, pub: str, mac: str | None) -> bool:
        if self.trusted is not None:
            return mac is None and self.trusted.get(name) == pub
        if self.key is None:
            return mac is None
        return mac is not None and R.mac_holds(self.key, self.session, name, pub, mac)

    def apply(self, name: str, pub: str, up: bool, mac: str | None = None) -> str | None:
        """Take one liveliness change; returns "up", "down", "back" (a name seen gone came back
        with its first key) or None when nothing changed for the run."""
        if not self.token_ok(name, pub, mac):
            self.ignored += 1
            return None
        first = self.keys.get(name)
        if first is None:
            if self.settled and not up:
                return None
            self.keys[name] = pub
            first = pub
        if first != pub:
            if up and not self.settled and name in self.alive:
                self.conflict = f"two members call themselves {name!r}"
            elif up:
                self.ignored += 1
                log.warning("ignored a second key for %r (a name keeps its first key for the run)", name)
            return None
        if up:
            if name in self.alive:
                return None
            self.alive.add(name)
            if name in self.left:
                self.left.discard(name)
                return "back"
            return "up"
        if name not in self.alive:
            return None
        self.alive.discard(name)
        self.left.add(name)
        return "down"

    def key_of(self, name: str) -> str | None:
        return self.keys.get(name)
