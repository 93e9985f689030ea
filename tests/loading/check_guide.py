"""Runs the Python blocks of docs/loading-the-export.md as they are, on a
pulled export folder, and prints what they loaded as JSON (the export
end-to-end test compares it with the records the Worker wrote).

Usage: check_guide.py EXPORT_DIR

The blocks run in a temporary folder where `export/` is EXPORT_DIR, the way
the guide tells a reader to pull it. Also checks that the BigQuery schema
file names the JSON Schema's fields. Exits 1 on any failure.
"""

import json
import math
import os
import re
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GUIDE = os.path.join(ROOT, "docs", "loading-the-export.md")


def blocks(text, lang):
    return re.findall(r"```" + lang + r"\n(.*?)```", text, flags=re.S)


def main(export_dir):
    export_dir = os.path.abspath(export_dir)
    with open(GUIDE, encoding="utf-8") as f:
        guide = f.read()
    duck, pandas_block = blocks(guide, "python")
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(export_dir, os.path.join(tmp, "export"))
        os.chdir(tmp)

        ns = {}
        exec(compile(duck, "loading-the-export.md (DuckDB)", "exec"), ns)
        con = ns["con"]
        out["duckdb"] = {
            "records": con.sql("SELECT count(*) FROM records").fetchall()[0][0],
            "ids": con.sql("SELECT count(DISTINCT id) FROM records").fetchall()[0][0],
            "purchases": [[v, s, x] for (v, s, x) in ns["purchases"]],
            "value_type": con.sql(
                "SELECT DISTINCT typeof(props.value) FROM records WHERE event = 'purchase'"
            ).fetchall(),
        }

        ns = {}
        exec(compile(pandas_block, "loading-the-export.md (pandas)", "exec"), ns)
        table = ns["table"]
        buys = table[table["event"] == "purchase"]
        values = buys["props.value"].tolist()
        assert all(isinstance(v, float) and not math.isnan(v) for v in values), values
        # Ordered by visitor, then seq, as the guide says.
        keys = list(zip(table["visitor"], table["seq"]))
        assert keys == sorted(keys), "the table is ordered by visitor, then seq"
        assert all(isinstance(v, str) for v in table["visitor"]), "visitor ids stay text"
        out["pandas"] = {
            "records": int(len(table)),
            "value_dtype": str(buys["props.value"].dtype),
            "purchases": [[v, int(s), float(x)] for v, s, x in zip(buys["visitor"], buys["seq"], values)],
        }

    with open(os.path.join(ROOT, "docs", "export-record.schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    with open(os.path.join(ROOT, "docs", "export-record.bq.json"), encoding="utf-8") as f:
        bq = json.load(f)
    names = [c["name"] for c in bq]
    assert names == list(schema["properties"]), (names, list(schema["properties"]))
    required = {c["name"] for c in bq if c["mode"] == "REQUIRED"}
    assert required <= set(schema["required"]), required - set(schema["required"])
    out["bigquery_columns"] = len(names)
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
