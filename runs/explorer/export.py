"""``vpp trace export RUN --html FILE``: the explorer's views of one run as one
self-contained HTML file (scripts, style and data inlined) that opens offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec
from vpp.runs.explorer import assets
from vpp.runs.explorer.app import view_data
from vpp.runs.explorer.record import RunRecord

STEP_BUDGET_BYTES = 4_000_000
"""The negotiations of steps are embedded until their JSON reaches this size; the page
says which steps were left out."""

_encoder = msgspec.json.Encoder(enc_hook=str)


def export_html(run_dir: Path | str, out: Path | str,
                step_budget_bytes: int = STEP_BUDGET_BYTES) -> dict[str, Any]:
    """Write ``out``: every page of the run at ``run_dir`` and the negotiation of as many
    steps as fit in ``step_budget_bytes``. Returns what was written: the file, its size,
    the steps embedded and the steps left out.

    Raises:
        RecordError: when ``run_dir`` is not a readable run.
    """
    record = RunRecord(run_dir)
    base = f"/run/{quote(record.name, safe='')}"
    card = view_data(record, "card")
    data: dict[str, Any] = {"/runs": [card], f"{base}/card": card}
    for page in card["pages"]:
        if page == "negotiation":
            continue
        data[f"{base}/{page}"] = view_data(record, page)
    included, omitted = [], []
    if "negotiation" in card["pages"]:
        used = 0
        steps = record.step_numbers()
        for k in steps:
            if used >= step_budget_bytes:
                omitted.append(k)
                continue
            chunk = _encoder.encode(view_data(record, "step", str(k)))
            used += len(chunk)
            data[f"{base}/step/{k}"] = msgspec.json.decode(chunk)
            included.append(k)
        data[f"{base}/steps"] = {"steps": [[k, n] for k, n in steps.items()],
                                 "omitted": omitted,
                                 "trace_note": record.trace_level()["note"]}
    html = assets.page(_encoder.encode(data))
    out = Path(out)
    out.write_text(html, encoding="utf-8")
    return {"file": str(out), "bytes": out.stat().st_size, "steps_included": len(included),
            "steps_omitted": omitted}
