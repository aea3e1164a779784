//! Measures `govern()` on action records (standardization and every check) with a
//! HashMap-backed `Lookup`, on one thread: `cargo run --release -p regfed-governance
//! --example govern_bench [records]`. Prints records per second (wall clock and per CPU
//! second of this thread, which discounts other processes) and allocations per record,
//! for records cycled from a cache-warm pool and for records all distinct (cold).
//! 10% of the records need standardization and 10% carry errors.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::NaiveDate;
use regfed_governance::checkdigit::{org_code_check_char, uscc_check_char};
use regfed_governance::{
    govern, Context, Fields, Lookup, Op, RawRecord, Region, RegionTable, RulePack, Value,
};

/// Counts allocations, to report how many one verdict costs.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Default)]
struct Store {
    departments: HashMap<String, String>,
    /// Accepted records by data set, then key.
    records: HashMap<String, HashMap<String, Fields>>,
}

impl Store {
    fn add(&mut self, dataset: &str, key: String, fields: Fields) {
        self.records
            .entry(dataset.to_string())
            .or_default()
            .insert(key, fields);
    }
}

impl Lookup for Store {
    fn department(&self, code: &str) -> Option<String> {
        self.departments.get(code).cloned()
    }

    fn is_department(&self, code: &str) -> bool {
        self.departments.contains_key(code)
    }

    fn accepted(&self, dataset: &str, key: &str) -> Option<Fields> {
        self.records.get(dataset)?.get(key).cloned()
    }

    fn visit_accepted(&self, dataset: &str, key: &str, visit: &mut dyn FnMut(&Fields)) -> bool {
        match self
            .records
            .get(dataset)
            .and_then(|records| records.get(key))
        {
            Some(fields) => {
                visit(fields);
                true
            }
            None => false,
        }
    }
}

fn uscc(prefix8: &str, n: u32) -> String {
    let org8 = format!("{n:08}");
    let org = format!("{org8}{}", org_code_check_char(&org8).unwrap());
    let first17 = format!("{prefix8}{org}");
    format!("{first17}{}", uscc_check_char(&first17).unwrap())
}

fn text_fields(pairs: &[(&str, String)]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| ((*k).into(), Value::Text(v.as_str().into())))
        .collect()
}

/// A tiny deterministic generator, so runs compare.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let departments: Vec<String> = (0..10).map(|i| uscc("11420100", 1000 + i)).collect();
    let subjects: Vec<String> = (0..2000).map(|i| uscc("91420100", 500_000 + i)).collect();
    let mut store = Store::default();
    for d in &departments {
        store.departments.insert(d.clone(), "部门".into());
    }
    let types = ["JC", "CF", "QZ"];
    for i in 0..300u32 {
        let ty = types[i as usize % 3];
        let code = format!("420100{ty}{i:05}");
        let fields = text_fields(&[
            ("item_code", code.clone()),
            ("item_type", ty.into()),
            ("department_code", departments[i as usize % 10].clone()),
            ("effective_date", "2024-01-01".into()),
            ("region_code", "420100".into()),
        ]);
        store.add("item", code, fields);
    }
    for i in 0..500u32 {
        let cert = format!("ZF42010{i:05}");
        let fields = text_fields(&[
            ("cert_no", cert.clone()),
            ("valid_from", "2023-01-01".into()),
            ("valid_until", "2028-12-31".into()),
        ]);
        store.add("officer", cert, fields);
    }
    for (i, s) in subjects.iter().enumerate() {
        let fields = text_fields(&[
            ("uscc", s.clone()),
            ("name", format!("武汉示例{i}有限公司")),
        ]);
        store.add("subject", s.clone(), fields);
    }

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut records = Vec::with_capacity(count);
    for n in 0..count {
        let item = rng.below(300) as u32;
        let ty = types[item as usize % 3];
        let subject = rng.below(2000) as usize;
        let (o1, o2) = (rng.below(500), rng.below(500));
        let flavour = rng.below(10);
        let mut pairs = vec![
            ("action_id", format!("420100-2026-{n:08}")),
            ("item_code", format!("420100{ty}{item:05}")),
            ("action_type", ty.to_string()),
            ("subject_uscc", subjects[subject].clone()),
            ("subject_name", format!("武汉示例{subject}有限公司")),
            ("officer_cert_nos", format!("ZF42010{o1:05};ZF42010{o2:05}")),
            ("action_date", "2026-11-20".into()),
            ("result", "1".into()),
            ("department_code", departments[item as usize % 10].clone()),
            ("region_code", "420100".into()),
        ];
        if ty == "CF" {
            pairs.push(("penalty_amount", "5000".into()));
        }
        match flavour {
            // Needs standardization: dates, separators, case, labels, amounts.
            0 => {
                pairs[6].1 = "2026/11/20".into();
                pairs[5].1 = format!("zf42010{o1:05}、ZF42010{o2:05}");
                pairs[7].1 = "未发现问题".into();
                pairs.retain(|(k, _)| *k != "penalty_amount");
                if ty == "CF" {
                    pairs.push(("penalty_amount", "1,000元".into()));
                }
            }
            // Errors: an unknown officer, a future date.
            1 => {
                pairs[5].1 = format!("ZF42010{o1:05};ZF99999999");
                pairs[6].1 = "2027-01-05".into();
            }
            _ => {}
        }
        records.push(RawRecord::new(Op::Upsert, text_fields(&pairs)));
    }

    let pack = RulePack::builtin();
    let node = Region::parse("420100").unwrap();
    let ctx = Context {
        pack: &pack,
        regions: RegionTable::builtin(),
        node_region: &node,
        today: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        submitter: None,
        lookup: &store,
    };
    // Warm: a pool of 1,000 records cycled, so a record is in cache as one just parsed from
    // the wire would be. Cold: every record distinct, read from memory (200 MB).
    let pool = &records[..records.len().min(1_000)];
    let warm: Vec<&RawRecord> = pool.iter().cycle().take(count).collect();
    let cold: Vec<&RawRecord> = records.iter().collect();
    for (name, order) in [("warm", &warm), ("cold", &cold)] {
        let mut best = 0.0f64;
        let mut best_cpu = 0.0f64;
        for round in 1..=5 {
            let allocations = ALLOCATIONS.load(Ordering::Relaxed);
            let cpu_start = thread_cpu_seconds();
            let start = Instant::now();
            let mut accepted = 0usize;
            for raw in order.iter() {
                let verdict = govern(&ctx, "action", black_box(raw));
                accepted += usize::from(verdict.accepted());
                black_box(verdict);
            }
            let seconds = start.elapsed().as_secs_f64();
            let per_record =
                (ALLOCATIONS.load(Ordering::Relaxed) - allocations) as f64 / count as f64;
            let rate = count as f64 / seconds;
            best = best.max(rate);
            let cpu = match (cpu_start, thread_cpu_seconds()) {
                (Some(a), Some(b)) if b > a => {
                    let cpu_rate = count as f64 / (b - a);
                    best_cpu = best_cpu.max(cpu_rate);
                    format!(", {cpu_rate:.0} per CPU-second")
                }
                _ => String::new(),
            };
            println!(
                "{name} round {round}: {count} action records in {seconds:.3} s = {rate:.0} records/s{cpu}, {per_record:.1} allocations per record ({accepted} accepted)"
            );
        }
        println!(
            "{name} best: {best:.0} records/s (wall clock), {best_cpu:.0} records per CPU-second"
        );
    }
}

/// This thread's CPU time (user + system) from /proc, so that other processes sharing the
/// machine do not count; 10 ms resolution, fine over rounds of a second or more.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
