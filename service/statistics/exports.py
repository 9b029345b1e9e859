"""A statistics report as a file: CSV (UTF-8 with BOM, so Excel opens it in Chinese) or XLSX.

Both carry the same table as the JSON answer, with what a reader of the file alone needs: the area,
the period, the definitions and, for analysts, the suppression note. Headings and notes are in both
languages; the rows' labels (provinces, countries, kinds) in the request's, as in the JSON.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Literal

import xlsxwriter
from litestar import Litestar, Response
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Schema

DEFINITIONS = (
    "到达人数：入住日期在期间内的旅客（按人计）。过夜人次：某日夜间在住的旅客，入住当晚计、退房当晚不计，"
    "该日结束后计入；未退房（含逾期）的住宿持续计入直至退房。床位使用率 = 过夜人次 ÷（床位数 × 夜数），"
    "加床时可超过 100%。房屋使用率 = 有人入住的房屋夜数 ÷（在用房屋数 × 夜数）。平均停留天数 = 过夜人次 ÷ 到达人数。"
    " / Arrivals: guests whose check-in date is in the period. Guest-nights: guests present on a night "
    "(check-in night counts, check-out night does not), counted once the date has ended; open and overdue "
    "stays count until checked out. Bed occupancy = guest-nights / (beds x nights), may pass 100%. "
    "Dwelling occupancy = occupied dwelling-nights / (active dwellings x nights). Average stay = guest-nights / arrivals."
)
HEADER = ("期间 period", "分组 key", "名称 label", "到达人数 arrivals", "过夜人次 guest_nights", "已隐藏 suppressed")
TOTAL_FIELDS = ("arrivals", "guest_nights", "beds", "bed_nights", "bed_occupancy", "dwelling_occupancy", "average_stay")


def _preamble(answer: dict[str, Any]) -> list[list[Any]]:
    lines = [
        ["地区 area", answer["area"]["code"], answer["area"]["name"]],
        ["期间 period", answer["from"], answer["to"], answer["period"], f"分组 by: {answer['by']}"],
        ["口径 definitions", answer["definitions_version"], DEFINITIONS],
    ]
    if answer["suppression_applied"]:
        lines.append(["隐藏说明 suppression", f"少于 {answer['min_cell']} 人或少于 3 家房屋的格子已隐藏（空白），"
                      "并作补充隐藏；其余数字按 5 取整。 Counts below the minimum cell or from fewer than three "
                      "dwellings are blank, with complementary cells; other counts are rounded to base 5."])
    return lines


def _table(answer: dict[str, Any]) -> list[list[Any]]:
    rows = [list(HEADER)]
    hidden = "是" if answer["language"] == "zh" else "yes"
    rows += [[r["period"], r["key"], r["label"], r["arrivals"], r["guest_nights"], hidden if r["suppressed"] else ""]
             for r in answer["rows"]]
    rows.append([])
    rows.append(["合计 totals", *TOTAL_FIELDS])
    rows.append(["", *(answer["totals"][f] for f in TOTAL_FIELDS)])
    return rows


def as_csv(answer: dict[str, Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows(_preamble(answer) + [[]] + _table(answer))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def as_xlsx(answer: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    with xlsxwriter.Workbook(out, {"in_memory": True}) as book:
        sheet = book.add_worksheet("statistics")
        bold = book.add_format({"bold": True})
        for n, line in enumerate(_preamble(answer) + [[]] + _table(answer)):
            sheet.write_row(n, 0, line, bold if line and line[0] in (HEADER[0], "合计 totals") else None)
        sheet.set_column(0, 2, 18)
        sheet.set_column(3, 6, 14)
    return out.getvalue()


MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def as_file(answer: dict[str, Any], format: Literal["csv", "xlsx"]) -> Response[bytes]:
    name = f"statistics-{answer['area']['code']}-{answer['from']}-{answer['to']}-{answer['period']}.{format}"
    media = MEDIA_TYPES[format]
    body = as_csv(answer) if format == "csv" else as_xlsx(answer)
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


def document_exports(app: Litestar) -> None:
    """The report's 200 is JSON, or the same table as a file: the OpenAPI document names both files' types."""
    operation = app.openapi_schema.paths["/api/v1/statistics"].get
    answer = operation.responses["200"]
    answer.content = {**(answer.content or {}), **{
        media: OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY))
        for media in MEDIA_TYPES.values()}}
