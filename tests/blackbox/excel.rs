//! Excel end to end, with workbooks written by other tools (openpyxl and xlwt, installed
//! into a virtual environment under the target directory on first use): a template filled
//! in, imported, marked, corrected and imported again until the queue is empty; a
//! department's own messy export uploaded to the node; a GBK CSV export; a legacy .xls.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use calamine::{Data, Reader, Xlsx};
use regfed_governance::{RawRecord, RulePack, Value};
use regfed_sample::{generate, Sample, SampleConfig};
use serde_json::{json, Value as Json};

use crate::harness::{today, NodeProcess, REGION};

/// The independent writers and readers the tests use, pinned.
const PACKAGES: [&str; 2] = ["openpyxl==3.1.5", "xlwt==1.3.0"];
const ERROR_FILL: u32 = 0xFF7C80;

/// The Python of a virtual environment with openpyxl and xlwt, made once per target
/// directory.
fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pyenv-workbooks");
            let python = venv.join("bin").join("python");
            let ready = |python: &Path| {
                Command::new(python)
                    .args(["-c", "import openpyxl, xlwt"])
                    .output()
                    .is_ok_and(|o| o.status.success())
            };
            if !ready(&python) {
                let made = Command::new("python3")
                    .arg("-m")
                    .arg("venv")
                    .arg(&venv)
                    .output();
                assert!(
                    made.as_ref().is_ok_and(|o| o.status.success()),
                    "cannot make a Python virtual environment in {} (python3 -m venv): {made:?}",
                    venv.display()
                );
                let pip = Command::new(venv.join("bin").join("pip"))
                    .args(["install", "--quiet", "--disable-pip-version-check"])
                    .args(PACKAGES)
                    .output();
                assert!(
                    pip.as_ref().is_ok_and(|o| o.status.success()),
                    "cannot install {PACKAGES:?} from PyPI into {}: {pip:?}",
                    venv.display()
                );
            }
            assert!(
                ready(&python),
                "openpyxl does not import in {}",
                venv.display()
            );
            python
        })
        .clone()
}

/// Runs `py/workbooks.py` with `args`.
fn script(args: &[&Path]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/blackbox/py/workbooks.py");
    let out = Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "workbooks.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn fields_json(record: &RawRecord) -> Json {
    let map: serde_json::Map<String, Json> = record
        .fields
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::Text(t) => t.to_string(),
                Value::List(items) => items.join(";"),
            };
            (k.to_string(), Json::String(text))
        })
        .collect();
    Json::Object(map)
}

fn write_json(path: &Path, value: &Json) {
    std::fs::write(path, value.to_string()).expect("write json");
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Runs `regfed submit --json ...` and returns its answer.
fn submit(node: &NodeProcess, identity: &Path, args: &[&str]) -> Json {
    let mut all = vec!["submit", "--json"];
    all.extend_from_slice(args);
    let (ok, out, err) = node.cli(identity, &all);
    assert!(ok, "regfed submit {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("submit --json printed {out:?}: {e}"))
}

/// The verdicts of a submit answer by (data set, key); the data set is read from each
/// result's source, `监管行为 action row 12`.
fn verdicts(answer: &Json) -> HashMap<(String, String), Json> {
    let mut by_key = HashMap::new();
    for r in answer["results"].as_array().expect("results") {
        let source = r["source"].as_str().unwrap_or_default();
        let sheet = source.rsplit_once(" row ").map_or(source, |(s, _)| s);
        let dataset = sheet.rsplit(' ').next().unwrap_or_default().to_string();
        let key = r["key"].as_str().unwrap_or_default().to_string();
        by_key.insert((dataset, key), r.clone());
    }
    by_key
}

/// The verdicts of a submit answer that are not `accepted`.
fn not_accepted(answer: &Json) -> Vec<&Json> {
    answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["status"] != "accepted")
        .collect()
}

fn count(answer: &Json, what: &str) -> u64 {
    answer[what]
        .as_u64()
        .unwrap_or_else(|| panic!("{what} in {answer}"))
}

/// The rows of a result workbook's data sheet: key -> (row, status), and the columns by field.
struct ResultSheet {
    rows: HashMap<String, (u32, String)>,
    columns: HashMap<String, u32>,
    status_col: u32,
}

fn result_sheet(
    book: &mut Xlsx<std::io::BufReader<std::fs::File>>,
    sheet: &str,
    key: &str,
) -> ResultSheet {
    let range = book.worksheet_range(sheet).expect("result sheet");
    let (top, left) = range.start().unwrap_or((0, 0));
    let mut columns = HashMap::new();
    let mut status_col = None;
    for (c, cell) in range.rows().next().expect("header").iter().enumerate() {
        let text = cell.to_string();
        let field = text.rsplit('\n').next().unwrap_or_default().to_string();
        let c = left + c as u32;
        if field == "status" {
            status_col = Some(c);
        }
        columns.insert(field, c);
    }
    let status_col = status_col.expect("a status column");
    let key_col = (columns[key] - left) as usize;
    let status_at = (status_col - left) as usize;
    let mut rows = HashMap::new();
    for (r, row) in range.rows().enumerate().skip(1) {
        if let (Some(Data::String(k)), Some(status)) = (row.get(key_col), row.get(status_at)) {
            rows.insert(k.trim().to_string(), (top + r as u32, status.to_string()));
        }
    }
    ResultSheet {
        rows,
        columns,
        status_col,
    }
}

fn expected_status(s: &Sample) -> &'static str {
    match &s.defect {
        Some(d) if !d.is_warning() => "rejected",
        _ => "accepted",
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_filled_elsewhere_round_trips_to_an_empty_queue() {
    let node = NodeProcess::start_city(1).await;
    let identity = node.identity(0).to_path_buf();
    let set = generate(&SampleConfig::small(REGION, node.departments(), today()));
    let pack = RulePack::builtin();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = |name: &str| dir.path().join(name);

    // The node's template, filled by openpyxl with the samples as first submitted.
    let (ok, _, err) = node.cli(&identity, &["template", "--out", p(&file("template.xlsx"))]);
    assert!(ok, "regfed template failed: {err}");
    let mut data = serde_json::Map::new();
    for spec in pack.datasets() {
        let rows: Vec<Json> = set
            .dataset(&spec.name)
            .iter()
            .map(|s| fields_json(&s.record))
            .collect();
        data.insert(spec.name.clone(), Json::Array(rows));
    }
    write_json(&file("data.json"), &Json::Object(data));
    script(&[
        Path::new("fill"),
        &file("template.xlsx"),
        &file("filled.xlsx"),
        &file("data.json"),
    ]);

    let answer = submit(
        &node,
        &identity,
        &["--report", p(&file("result.xlsx")), p(&file("filled.xlsx"))],
    );
    let by_key = verdicts(&answer);
    let mut rejected: Vec<&Sample> = Vec::new();
    for s in set.all() {
        let verdict = by_key
            .get(&(s.dataset.to_string(), s.key.clone()))
            .unwrap_or_else(|| panic!("no verdict for {} {}", s.dataset, s.key));
        assert_eq!(
            verdict["status"],
            expected_status(s),
            "{} {} with defect {:?}: {verdict}",
            s.dataset,
            s.key,
            s.defect
        );
        if let Some(d) = &s.defect {
            let rules: Vec<&str> = verdict["issues"]
                .as_array()
                .expect("issues")
                .iter()
                .filter_map(|i| i["rule"].as_str())
                .collect();
            assert!(
                rules.contains(&d.rule.as_str()),
                "{} {}: {} not in {rules:?}",
                s.dataset,
                s.key,
                d.rule
            );
            if !d.is_warning() {
                rejected.push(s);
            }
        }
    }
    let total = set.all().count() as u64;
    assert_eq!(count(&answer, "submitted"), total);
    assert_eq!(count(&answer, "rejected"), rejected.len() as u64);
    assert!(!rejected.is_empty(), "the samples hold rejected records");

    // The result, read back with calamine: statuses, and each fault's cell filled red.
    let mut book: Xlsx<_> = calamine::open_workbook(file("result.xlsx")).expect("open result");
    let styles: HashMap<String, calamine::StyleRange> = book
        .sheet_names()
        .into_iter()
        .filter(|n| n.contains(' ') && !n.contains("summary"))
        .map(|n| {
            let s = book.worksheet_style(&n).expect("styles");
            (n, s)
        })
        .collect();
    let fill = |sheet: &str, row: u32, col: u32| {
        styles[sheet]
            .get((row, col))
            .and_then(|s| s.fill.as_ref())
            .and_then(|f| f.get_color())
            .map(|c| (u32::from(c.red) << 16) | (u32::from(c.green) << 8) | u32::from(c.blue))
    };
    let mut marked = 0;
    let mut sheets = BTreeMap::new();
    for spec in pack.datasets() {
        let name = regfed_formats::xlsx::sheet_name(spec);
        sheets.insert(
            spec.name.clone(),
            (name.clone(), result_sheet(&mut book, &name, &spec.key)),
        );
    }
    for s in set.all() {
        let (name, sheet) = &sheets[s.dataset];
        let (row, status) = &sheet.rows[&s.key];
        let shown = match expected_status(s) {
            "rejected" => "退回 rejected",
            _ => "通过 accepted",
        };
        assert_eq!(status, shown, "{} {}", s.dataset, s.key);
        if expected_status(s) == "rejected" {
            let defect = s.defect.as_ref().expect("defect");
            let col = sheet
                .columns
                .get(&defect.field)
                .copied()
                .unwrap_or(sheet.status_col);
            assert_eq!(
                fill(name, *row, col),
                Some(ERROR_FILL),
                "{} {} {}",
                s.dataset,
                s.key,
                defect.field
            );
            assert_eq!(fill(name, *row, sheet.status_col), Some(ERROR_FILL));
            marked += 1;
        } else if s.defect.is_none() {
            assert_eq!(
                fill(name, *row, sheet.status_col),
                None,
                "{} {}",
                s.dataset,
                s.key
            );
        }
    }

    // The notes, read back by openpyxl: each names the rule and a valid example.
    script(&[
        Path::new("inspect"),
        &file("result.xlsx"),
        &file("inspect.json"),
    ]);
    let inspected: Json =
        serde_json::from_str(&std::fs::read_to_string(file("inspect.json")).expect("read"))
            .expect("json");
    let cells = inspected["cells"].as_array().expect("cells");
    for s in &rejected {
        let defect = s.defect.as_ref().expect("defect");
        let (name, sheet) = &sheets[s.dataset];
        let (row, _) = sheet.rows[&s.key];
        let col = sheet
            .columns
            .get(&defect.field)
            .copied()
            .unwrap_or(sheet.status_col);
        let cell = cells
            .iter()
            .find(|c| c["sheet"] == name.as_str() && c["row"] == row + 1 && c["column"] == col + 1)
            .unwrap_or_else(|| {
                panic!(
                    "no marked cell for {} {} {}",
                    s.dataset, s.key, defect.field
                )
            });
        let comment = cell["comment"].as_str().unwrap_or_default();
        assert!(comment.contains(&format!("[{}]", defect.rule)), "{comment}");
        assert!(
            cell["fill"].as_str().is_some_and(|f| f.ends_with("FF7C80")),
            "{cell}"
        );
    }
    assert!(
        inspected["sheets"][0] == "导入结果 summary",
        "{}",
        inspected["sheets"]
    );

    // Corrections typed into the result workbook; submitted again, only they change.
    let mut fixes = serde_json::Map::new();
    for s in &rejected {
        fixes
            .entry(s.dataset.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("object")
            .insert(s.key.clone(), fields_json(&s.valid));
    }
    write_json(&file("fixes.json"), &Json::Object(fixes));
    script(&[
        Path::new("correct"),
        &file("result.xlsx"),
        &file("corrected.xlsx"),
        &file("fixes.json"),
    ]);
    let again = submit(&node, &identity, &[p(&file("corrected.xlsx"))]);
    assert_eq!(count(&again, "accepted"), rejected.len() as u64, "{again}");
    assert_eq!(count(&again, "rejected"), 0, "{again}");
    assert_eq!(count(&again, "unchanged"), total - rejected.len() as u64);

    let (ok, out, err) = node.cli(&identity, &["issues", "--json"]);
    assert!(ok, "{err}");
    let queue: Json = serde_json::from_str(&out).expect("issues json");
    let open = queue
        .as_array()
        .expect("array")
        .iter()
        .filter(|e| e["status"] == "open")
        .count();
    assert_eq!(open, 0, "the queue is empty: {queue}");
    println!(
        "round trip: {total} rows, {} rejected and marked ({marked} fills, {} notes checked), corrected, queue empty",
        rejected.len(),
        rejected.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exports_from_other_tools_with_real_mess_import() {
    let node = NodeProcess::start_city(1).await;
    let identity = node.identity(0).to_path_buf();
    let set = generate(&SampleConfig::small(REGION, node.departments(), today()));
    let pack = RulePack::builtin();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = |name: &str| dir.path().join(name);

    // Valid records only, every other code written as its label.
    let records = |dataset: &str| -> Vec<Json> {
        let spec = pack.dataset(dataset).expect("dataset");
        set.dataset(dataset)
            .iter()
            .filter(|s| s.defect.is_none())
            .enumerate()
            .map(|(i, s)| {
                let mut fields = fields_json(&s.valid);
                for f in spec.fields.iter().filter(|f| f.code_list.is_some()) {
                    let code = fields[f.name.as_str()].as_str().map(str::to_string);
                    let label = code.and_then(|c| {
                        pack.code_label(f.code_list.as_deref()?, &c)
                            .map(str::to_string)
                    });
                    if let (Some(label), true) = (label, i % 2 == 0) {
                        fields[f.name.as_str()] = Json::String(label);
                    }
                }
                fields
            })
            .collect()
    };
    let subjects = records("subject");
    let mut in_book = Vec::new();
    let mut in_csv = Vec::new();
    for (i, subject) in subjects.into_iter().enumerate() {
        if i % 2 == 0 {
            in_book.push(subject);
        } else {
            in_csv.push(subject);
        }
    }

    // Half the subjects from a GBK CSV with Chinese headers.
    write_json(&file("csv.json"), &json!({ "subject": in_csv }));
    script(&[Path::new("gbk"), &file("subjects.csv"), &file("csv.json")]);
    let bytes = std::fs::read(file("subjects.csv")).expect("csv");
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "the CSV is GBK, not UTF-8"
    );
    let answer = submit(
        &node,
        &identity,
        &["--dataset", "subject", p(&file("subjects.csv"))],
    );
    assert_eq!(count(&answer, "accepted"), in_csv.len() as u64, "{answer}");

    // The rest in one messy workbook, uploaded for the node to import.
    let data = json!({
        "item": records("item"),
        "subject": in_book,
        "officer": records("officer"),
        "action": records("action"),
    });
    let rows: u64 = ["item", "subject", "officer", "action"]
        .iter()
        .map(|d| data[d].as_array().map_or(0, |a| a.len() as u64))
        .sum::<u64>()
        + 1;
    write_json(&file("messy.json"), &data);
    script(&[Path::new("messy"), &file("messy.xlsx"), &file("messy.json")]);
    let answer = submit(
        &node,
        &identity,
        &[
            "--upload",
            "--report",
            p(&file("messy-result.xlsx")),
            p(&file("messy.xlsx")),
        ],
    );
    let rejected = not_accepted(&answer);
    assert!(
        rejected.is_empty(),
        "every readable row is accepted: {rejected:#?}"
    );
    assert_eq!(count(&answer, "rows"), rows);
    assert_eq!(count(&answer, "accepted"), rows - 1);
    assert_eq!(
        count(&answer, "not_submitted"),
        1,
        "the USCC that lost digits"
    );
    let notes = answer["notes"].to_string();
    assert!(
        notes.contains("备注"),
        "the extra column is reported: {notes}"
    );

    // The node's result workbook marks the unreadable cell.
    let mut book: Xlsx<_> =
        calamine::open_workbook(file("messy-result.xlsx")).expect("open result");
    let sheet = result_sheet(&mut book, "监管对象", "uscc");
    let range = book.worksheet_range("监管对象").expect("sheet");
    let styles = book.worksheet_style("监管对象").expect("styles");
    let uscc_col = sheet.columns["uscc"];
    let (top, left) = range.start().unwrap_or((0, 0));
    let unreadable: Vec<u32> = range
        .rows()
        .enumerate()
        .filter(|(_, r)| matches!(r.get((uscc_col - left) as usize), Some(Data::Float(_))))
        .map(|(i, _)| top + i as u32)
        .collect();
    assert_eq!(unreadable.len(), 1);
    let row = unreadable[0];
    assert_eq!(
        range
            .get_value((row, sheet.status_col))
            .map(|d| d.to_string())
            .as_deref(),
        Some("未提交 not submitted")
    );
    let fill = styles
        .get((row, uscc_col))
        .and_then(|s| s.fill.as_ref())
        .and_then(|f| f.get_color())
        .map(|c| (u32::from(c.red) << 16) | (u32::from(c.green) << 8) | u32::from(c.blue));
    assert_eq!(fill, Some(ERROR_FILL));
    println!(
        "mess: {} CSV subjects (GBK), {rows} workbook rows uploaded: {} accepted, 1 not submitted and marked",
        in_csv.len(),
        rows - 1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_legacy_xls_workbook_imports() {
    let node = NodeProcess::start_city(1).await;
    let identity = node.identity(0).to_path_buf();
    let set = generate(&SampleConfig::small(REGION, node.departments(), today()));
    let dir = tempfile::tempdir().expect("temp dir");
    let file = |name: &str| dir.path().join(name);
    let valid = |dataset: &str| -> Vec<Json> {
        set.dataset(dataset)
            .iter()
            .filter(|s| s.defect.is_none())
            .map(|s| fields_json(&s.valid))
            .collect()
    };
    let data = json!({
        "item": valid("item"),
        "subject": valid("subject"),
        "officer": valid("officer"),
        "action": valid("action"),
    });
    let rows: u64 = ["item", "subject", "officer", "action"]
        .iter()
        .map(|d| data[d].as_array().map_or(0, |a| a.len() as u64))
        .sum();
    write_json(&file("data.json"), &data);
    script(&[Path::new("xls"), &file("legacy.xls"), &file("data.json")]);
    let bytes = std::fs::read(file("legacy.xls")).expect("xls");
    assert_eq!(
        bytes[..4],
        [0xD0, 0xCF, 0x11, 0xE0],
        "an OLE2 (BIFF) file, not a zip"
    );
    let answer = submit(
        &node,
        &identity,
        &[
            "--report",
            p(&file("legacy-result.xlsx")),
            p(&file("legacy.xls")),
        ],
    );
    let refused = not_accepted(&answer);
    assert!(refused.is_empty(), "{refused:#?}");
    assert_eq!(count(&answer, "accepted"), rows);
    let mut book: Xlsx<_> =
        calamine::open_workbook(file("legacy-result.xlsx")).expect("open result");
    let sheet = result_sheet(&mut book, "action", "action_id");
    assert_eq!(
        sheet.rows.len() as u64,
        data["action"].as_array().map_or(0, |a| a.len() as u64)
    );
    assert!(sheet
        .rows
        .values()
        .all(|(_, status)| status == "通过 accepted"));
    println!("legacy .xls: {rows} rows in four sheets accepted; result workbook written");
}
