"""GET /api/stats/logs.csv with hostile client-controlled values: text, never formulas."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

from tests.api.conftest import Api

HOSTILE = {
    "client_name": '=HYPERLINK("http://x","click")',
    "user_agent": "@SUM(1+1)",
    "endpoint": "+cmd|' /C calc'!A0",
    "error_message": "-2+3",
    "model": "\tleading-tab",
}


async def test_formula_cells_get_a_leading_quote(sqlite_api: Api) -> None:
    # Bug: these values came out as live formulas when the CSV was opened in a spreadsheet.
    hostile = replace(sqlite_api.records[0], request_id="hostile-1", **HOSTILE)
    await sqlite_api.store.write_requests([hostile])
    response = await sqlite_api.client.get("/api/stats/logs.csv")
    assert response.status == 200
    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(await response.text()))}
    row = rows["hostile-1"]
    for name, value in HOSTILE.items():
        assert row[name] == f"'{value}", name
    plain = rows[sqlite_api.records[1].request_id]
    assert not plain["user_agent"].startswith("'")  # ordinary text is left as it is
