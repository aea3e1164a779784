"""Workbooks written and read by a tool regfed did not write (openpyxl), for the Excel tests.

    workbooks.py fill TEMPLATE OUT DATA.json      fill regfed's template with records
    workbooks.py correct RESULT OUT FIXES.json    type corrections into a result workbook
    workbooks.py inspect RESULT OUT.json          every filled or noted cell of a result
    workbooks.py messy OUT DATA.json              a department's own export, with real mess
    workbooks.py gbk OUT.csv DATA.json            a CSV export in GBK with Chinese headers
    workbooks.py xls OUT.xls DATA.json            a legacy .xls workbook (xlwt), one sheet per data set

DATA.json maps a data set to a list of records ({field: text}); FIXES.json maps a data set
to {key: record}. Headers are matched the way a person would: by the field name on the
second line of a template header, or by the Chinese label.
"""

import csv
import datetime
import json
import sys

import openpyxl


def field_of(header):
    """The field name of a regfed template header ("*监管事项编码\\nitem_code")."""
    if not isinstance(header, str):
        return None
    return header.strip().split("\n")[-1].strip()


def dataset_of(sheet_name):
    return sheet_name.split(" ")[-1]


def columns(ws, header_row=1):
    return {
        field_of(cell.value): cell.column
        for cell in ws[header_row]
        if field_of(cell.value)
    }


def fill(template, out, data_path):
    data = json.load(open(data_path, encoding="utf-8"))
    wb = openpyxl.load_workbook(template)
    for ws in wb.worksheets:
        records = data.get(dataset_of(ws.title))
        if not records:
            continue
        cols = columns(ws)
        for i, record in enumerate(records):
            for field, value in record.items():
                ws.cell(row=2 + i, column=cols[field], value=value)
    wb.save(out)


def correct(result, out, fixes_path):
    fixes = json.load(open(fixes_path, encoding="utf-8"))
    wb = openpyxl.load_workbook(result)
    for ws in wb.worksheets:
        wanted = fixes.get(dataset_of(ws.title))
        if not wanted:
            continue
        cols = columns(ws)
        key_col = next(c for f, c in cols.items() if f in ("item_code", "uscc", "cert_no", "action_id"))
        for row in range(2, ws.max_row + 1):
            key = ws.cell(row=row, column=key_col).value
            fix = wanted.get(str(key).strip() if key is not None else "")
            if fix is None:
                continue
            for field, col in cols.items():
                if field in ("status", "problems"):
                    continue
                # cell(..., value=None) would leave the cell as it was: assign instead.
                ws.cell(row=row, column=col).value = fix.get(field)
    wb.save(out)


def inspect(result, out):
    wb = openpyxl.load_workbook(result)
    cells = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                fill = cell.fill.fgColor.rgb if cell.fill and cell.fill.fill_type == "solid" else None
                comment = cell.comment.text if cell.comment else None
                if fill or comment:
                    cells.append({
                        "sheet": ws.title,
                        "cell": cell.coordinate,
                        "row": cell.row,
                        "column": cell.column,
                        "value": None if cell.value is None else str(cell.value),
                        "fill": fill,
                        "comment": comment,
                    })
    json.dump({"sheets": wb.sheetnames, "cells": cells}, open(out, "w", encoding="utf-8"), ensure_ascii=False)


def iso(text):
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        return None


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def serial(day):
    return (day - datetime.date(1899, 12, 30)).days


def messy(out, data_path):
    """Every sheet has a title row, an extra column, blank rows and a different mess."""
    data = json.load(open(data_path, encoding="utf-8"))
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for dataset, title in (("action", "监管行为"), ("officer", "执法人员"), ("subject", "监管对象"), ("item", "item")):
        records = data.get(dataset, [])
        if not records:
            continue
        ws = wb.create_sheet(title)
        fields = list(records[0].keys())
        for r in records:
            for f in r:
                if f not in fields:
                    fields.append(f)
        fields.reverse()  # another column order than the standard's
        ws.append([f"{title} 导出 2026"])  # a title row
        ws.append([])
        ws.append(fields + ["备注"])
        header_row = 3
        for i, record in enumerate(records):
            row = []
            for f in fields:
                v = record.get(f)
                if v is None:
                    row.append(None)
                elif (f.endswith("_date") or f in ("valid_from", "valid_until")) and iso(v):
                    day = iso(v)
                    # dates as real dates, as serial numbers, and as text with slashes
                    row.append([day, serial(day), f"{day.year}/{day.month}/{day.day}"][i % 3])
                elif f == "region_code" and v.isascii() and v.isdigit():
                    row.append(int(v))  # a code typed into a General cell: a number
                elif f == "penalty_amount" and number(v) is not None:
                    row.append(number(v))
                elif f in ("name", "item_name", "subject_name"):
                    row.append(v + "  ")  # trailing spaces
                else:
                    row.append(v)
            row.append("导出备注")
            ws.append(row)
            if i % 7 == 3:
                ws.append([])  # a blank row
        # Dates written as dates get a date format, as Excel would give them.
        for col, f in enumerate(fields, start=1):
            for cells in ws.iter_cols(min_col=col, max_col=col, min_row=header_row + 1):
                for cell in cells:
                    if isinstance(cell.value, (datetime.date, datetime.datetime)):
                        cell.number_format = "yyyy-mm-dd"
        if dataset == "action":
            # One department code over the first three rows: a merged cell.
            col = fields.index("department_code") + 1
            first = header_row + 1
            for r in (first + 1, first + 2):
                ws.cell(row=r, column=col, value=None)
            ws.merge_cells(start_row=first, start_column=col, end_row=first + 2, end_column=col)
        if dataset == "subject":
            # One more subject, its USCC typed as a number: Excel keeps 15 digits, so this
            # row cannot be read.
            extra = [ws.cell(row=ws.max_row, column=c).value for c in range(1, len(fields) + 2)]
            extra[fields.index("uscc")] = int("913501000000000001")
            ws.append(extra)
    wb.save(out)


def gbk(out, data_path):
    data = json.load(open(data_path, encoding="utf-8"))
    records = data["subject"]
    labels = {"uscc": "统一社会信用代码", "name": "名称", "subject_type": "主体类型",
              "legal_rep": "法定代表人", "legal_rep_id": "法定代表人身份证号",
              "region_code": "注册地行政区划", "address": "住所", "established_date": "成立日期"}
    fields = [f for f in labels if any(f in r for r in records)]
    with open(out, "w", encoding="gbk", newline="") as f:
        w = csv.writer(f)
        w.writerow([labels[x] for x in fields])
        for r in records:
            w.writerow([r.get(x, "") for x in fields])


def xls(out, data_path):
    """Field names as headers; dates as real dates, region codes as numbers."""
    import xlwt

    data = json.load(open(data_path, encoding="utf-8"))
    wb = xlwt.Workbook(encoding="utf-8")
    date_style = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    for dataset, records in data.items():
        ws = wb.add_sheet(dataset)
        fields = []
        for r in records:
            for f in r:
                if f not in fields:
                    fields.append(f)
        for col, f in enumerate(fields):
            ws.write(0, col, f)
        for row, record in enumerate(records, start=1):
            for col, f in enumerate(fields):
                v = record.get(f)
                if v is None:
                    continue
                if (f.endswith("_date") or f in ("valid_from", "valid_until")) and iso(v):
                    ws.write(row, col, iso(v), date_style)
                elif f == "region_code" and v.isascii() and v.isdigit():
                    ws.write(row, col, int(v))
                else:
                    ws.write(row, col, v)
    wb.save(out)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    commands = {"fill": fill, "correct": correct, "inspect": inspect, "messy": messy, "gbk": gbk, "xls": xls}
    commands[command](*args)
