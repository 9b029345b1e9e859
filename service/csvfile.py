"""CSV files sent to the service: the multipart field ``file`` or the body as ``text/csv``, in UTF-8 (with or
without a BOM) or in GB18030, as Excel saves a Chinese sheet. Problems are reported by line, as people fix
them in their spreadsheet.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from typing import Any

from litestar import Request
from litestar.datastructures import UploadFile

from service.i18n import add_messages
from service.problems import FieldError, Problem

add_messages(
    {
        "import_invalid": (
            "The file was not imported: {count} problem(s) to fix. Nothing was created.",
            "文件未导入：有 {count} 处问题需要修改，未创建任何记录。",
        ),
        "csv_missing": ("Send a CSV file (form field “file”, or the body as text/csv).",
                        "请上传 CSV 文件（表单字段 “file”，或以 text/csv 发送）。"),
        "csv_encoding": (
            "This line is neither UTF-8 nor GB18030 text: save the file as “CSV UTF-8”.",
            "此行既不是 UTF-8 也不是 GB18030 编码：请将文件另存为“CSV UTF-8”。",
        ),
        "csv_nul": ("This line contains a NUL character.", "此行包含空字符。"),
        "csv_header": (
            "The first line must name the columns {columns}; missing: {missing}.",
            "第一行必须是列名 {columns}；缺少：{missing}。",
        ),
        "csv_empty": ("The file has no lines after its header.", "文件除标题行外没有内容。"),
        "csv_columns": ("This line has more cells than the header names.", "此行的单元格比标题行多。"),
    }
)

MAX_LISTED_ERRORS = 1000  # a file wrong on every line still gets a readable answer; the count says how many


def invalid(errors: list[FieldError]) -> Problem:
    """422 with the errors of every line (up to MAX_LISTED_ERRORS), and their total."""
    return Problem(422, "import_invalid", errors=errors[:MAX_LISTED_ERRORS], count=len(errors))


async def read_upload(request: Request[Any, Any, Any]) -> bytes:
    """The file's bytes: a multipart form's ``file`` field, or else the body itself."""
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        upload = (await request.form()).get("file")
        if not isinstance(upload, UploadFile):
            raise Problem(400, "invalid_input", errors=[FieldError("file", "csv_missing")])
        data = await upload.read()
    else:
        data = await request.body()
    if not data.strip():
        raise Problem(400, "invalid_input", errors=[FieldError("file", "csv_missing")])
    return data


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


# A UTF-8 file with a few broken bytes still reads mostly as UTF-8: this many good non-ASCII characters per bad
# sequence. Chinese text saved in GB18030 fails UTF-8 at nearly every character.
UTF8_GOOD_PER_BAD = 3
UTF8_BAD_LOOKED_FOR = 50


def _utf8_damage(data: bytes) -> tuple[int, list[int]]:
    """(non-ASCII characters that read as UTF-8, offsets of the sequences that do not), looking for at most
    UTF8_BAD_LOOKED_FOR bad ones."""
    good, bad, position = 0, [], 0
    while len(bad) <= UTF8_BAD_LOOKED_FOR:
        try:
            good += sum(ch > "\x7f" for ch in data[position:].decode("utf-8"))
            break
        except UnicodeDecodeError as exc:
            good += sum(ch > "\x7f" for ch in data[position:position + exc.start].decode("utf-8"))
            bad.append(position + exc.start)
            position += exc.end
    return good, bad


def decode(data: bytes) -> str:
    """The text of the file: UTF-8 (a BOM says so for sure), else GB18030. A file that reads as UTF-8 but for a
    few broken bytes is a damaged UTF-8 file, not a Chinese one: the answer names the lines to fix."""
    bom = data.startswith(codecs.BOM_UTF8)
    if bom:
        data = data[len(codecs.BOM_UTF8):]
    good, bad = _utf8_damage(data)
    if not bad:
        text = data.decode("utf-8")
    elif bom or good >= UTF8_GOOD_PER_BAD * len(bad):
        raise invalid([FieldError("file", "csv_encoding", line=line)
                       for line in sorted({_line_of(data, offset) for offset in bad})])
    else:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise invalid([FieldError("file", "csv_encoding", line=_line_of(data, exc.start))]) from None
    if "\x00" in text:
        raise invalid([FieldError("file", "csv_nul", line=text.count("\n", 0, text.index("\x00")) + 1)])
    return text


def records(text: str, columns: tuple[str, ...], required: tuple[str, ...]
            ) -> Iterator[tuple[int, dict[str, str], bool]]:
    """(line number, cells by column, whether cells beyond the header hold something) for each non-empty line
    after the header; cells stripped, absent ones ''. A header lacking a required column, or a file with no
    lines, answers 422."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [cell.strip().lower() for cell in next(reader, [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise invalid([FieldError("header", "csv_header", line=1,
                                  params={"columns": ",".join(columns), "missing": ",".join(missing)})])
    found = False
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        found = True
        line = reader.line_num
        row = {name: "" for name in columns}
        extra = len(cells) > len(header) and any(c.strip() for c in cells[len(header):])
        for name, cell in zip(header, cells):
            if name in row:
                row[name] = cell.strip()
        yield line, row, extra
    if not found:
        raise invalid([FieldError("file", "csv_empty", line=2)])
