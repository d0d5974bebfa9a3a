//! Verdicts against a corpus of cloud-init's own (see `schemas/cloud-init/crosscheck.py`),
//! when `CLEM_SCHEMA_CROSSCHECK` names one; otherwise the test does nothing.

use serde_json::Value;

use crate::cloudinit::py::{Py, PyInt};
use crate::cloudinit::schema::check;

/// A value as the script tags it.
fn untag(v: &Value) -> Py {
    let x = &v["v"];
    let list = || {
        x.as_array()
            .map(|a| a.iter().map(untag).collect())
            .unwrap_or_default()
    };
    let text = || x.as_str().unwrap_or_default().to_string();
    match v["t"].as_str().unwrap_or_default() {
        "bool" => Py::Bool(x.as_bool().unwrap_or_default()),
        "int" => match text().parse::<i128>() {
            Ok(i) => Py::Int(PyInt::Small(i)),
            Err(_) => Py::Int(PyInt::Big {
                negative: text().starts_with('-'),
                digits: text().trim_start_matches('-').to_string(),
            }),
        },
        "float" => Py::Float(match text().as_str() {
            "nan" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            t => t.parse().unwrap_or(f64::NAN),
        }),
        "str" => Py::Str(text()),
        "bytes" => Py::Bytes(
            x.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|b| b.as_u64())
                        .map(|b| b as u8)
                        .collect()
                })
                .unwrap_or_default(),
        ),
        t @ ("date" | "datetime") => Py::Timestamp {
            text: text(),
            has_time: t == "datetime",
        },
        "list" => Py::List(list()),
        "tuple" => Py::Tuple(list()),
        "set" => Py::Set(list()),
        "dict" => Py::Dict(
            x.as_array()
                .map(|a| a.iter().map(|p| (untag(&p[0]), untag(&p[1]))).collect())
                .unwrap_or_default(),
        ),
        _ => Py::None,
    }
}

#[test]
fn crosscheck_against_cloud_inits_verdicts() {
    let Ok(corpus) = std::env::var("CLEM_SCHEMA_CROSSCHECK") else {
        return;
    };
    let text = std::fs::read_to_string(&corpus).expect("the corpus file");
    let mut wrong = Vec::new();
    let mut count = 0;
    for line in text.lines() {
        let rec: Value = serde_json::from_str(line).expect("a JSON line");
        let (errors, warnings) = check(&untag(&rec["doc"]));
        let ours = match (errors.is_empty(), warnings.is_empty()) {
            (false, _) => "invalid",
            (true, false) => "warn",
            (true, true) => "valid",
        };
        let theirs = match rec["verdict"].as_str() {
            Some("crash") => "invalid",
            Some(v) => v,
            None => "?",
        };
        count += 1;
        if ours != theirs {
            wrong.push(format!(
                "cloud-init {theirs}, ours {ours}: {}\n  {errors:?}",
                rec["python"]
            ));
        }
    }
    eprintln!("{count} documents, {} verdicts differ", wrong.len());
    assert!(
        wrong.is_empty(),
        "{}",
        wrong[..wrong.len().min(10)].join("\n")
    );
}
