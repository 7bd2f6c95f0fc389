"""LoadReport: what a loader or cleaning step noticed, counted per issue, never silently dropped."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from posekit.errors import PosekitError

_EXAMPLES = 3


@dataclass
class LoadReport:
    """Counts per issue (``counts["missing image file"] == 12``) plus a few example messages each.

    strict: a bad record raises PosekitError (the default); with strict=False it is skipped and counted
    under ``"skipped bad record"`` so a batch goes on past it.
    """

    strict: bool = True
    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, issue: str, example: str | None = None, n: int = 1) -> None:
        """Count ``n`` occurrences of ``issue``; keep the first few examples."""
        if n <= 0:
            return
        self.counts[issue] += n
        if example is not None:
            ex = self.examples.setdefault(issue, [])
            if len(ex) < _EXAMPLES:
                ex.append(example)

    def bad(self, message: str) -> None:
        """A malformed record: raise in strict mode, else count it and let the caller skip it."""
        if self.strict:
            raise PosekitError(message)
        self.note("skipped bad record", message)

    def lines(self) -> list[str]:
        """One human-readable line per issue, with its first example."""
        out = []
        for issue, n in sorted(self.counts.items()):
            ex = self.examples.get(issue)
            out.append(f"{issue}: {n}" + (f" (e.g. {ex[0]})" if ex else ""))
        return out

    def as_dict(self) -> dict[str, object]:
        return {"counts": dict(sorted(self.counts.items())), "examples": self.examples}
