//! Excel over the API: the template of this node's rule pack, and workbook upload (the node
//! reads the workbook, imports it through the same path as `Submit`, and streams back
//! progress, verdicts, a summary and the result workbook).

use std::pin::Pin;
use std::sync::Arc;

use anyhow::anyhow;
use futures::future::BoxFuture;
use futures::Stream;
use regfed_formats::xlsx::Workbook;
use regfed_governance::RulePack;
use regfed_proto::v1 as pb;
use tonic::{Status, Streaming};

use super::auth::Caller;
use crate::cli::workbook::UPLOAD_CHUNK;
use crate::import::{self, ImportOptions, ReportTarget, Submitter};
use crate::node::Node;

pub type UploadStream = Pin<Box<dyn Stream<Item = Result<pb::UploadEvent, Status>> + Send>>;

/// Rows per batch of an uploaded workbook, and batches in flight.
const UPLOAD_BATCH: usize = 1000;
const UPLOAD_WINDOW: usize = 4;

/// The template of `dataset` (or `all`) from `pack`, as .xlsx bytes.
pub fn template_bytes(pack: &RulePack, dataset: &str) -> Result<Vec<u8>, String> {
    let datasets: Vec<_> = if dataset.is_empty() || dataset == "all" {
        pack.datasets().iter().collect()
    } else {
        match pack.dataset(dataset) {
            Some(spec) => vec![spec],
            None => {
                let known: Vec<&str> = pack.datasets().iter().map(|d| d.name.as_str()).collect();
                return Err(format!(
                    "unknown data set {dataset:?}; use all or one of {}",
                    known.join(", ")
                ));
            }
        }
    };
    regfed_formats::xlsx::template(pack, &datasets).map_err(|e| e.to_string())
}

pub fn template(
    pack: &RulePack,
    request: pb::TemplateRequest,
) -> Result<pb::TemplateResponse, Status> {
    let dataset = if request.dataset.is_empty() {
        "all".to_string()
    } else {
        request.dataset
    };
    let data = template_bytes(pack, &dataset).map_err(Status::invalid_argument)?;
    Ok(pb::TemplateResponse {
        file_name: format!("regfed-template-{dataset}.xlsx"),
        data,
        pack: format!("{}@{}", pack.name(), pack.version()),
    })
}

/// Submits in process, as the caller: the same checks and path as the `Submit` call.
struct NodeSubmitter {
    node: Arc<Node>,
    caller: Caller,
}

impl Submitter for NodeSubmitter {
    fn submit(
        &self,
        request: pb::SubmitRequest,
    ) -> BoxFuture<'static, anyhow::Result<pb::SubmitResponse>> {
        let node = self.node.clone();
        let caller = self.caller.clone();
        Box::pin(async move {
            super::submit::submit(&node, &caller, request)
                .await
                .map_err(|s| anyhow!("{} ({:?})", s.message(), s.code()))
        })
    }
}

pub async fn upload(
    node: Arc<Node>,
    caller: Caller,
    mut stream: Streaming<pb::UploadRequest>,
) -> Result<UploadStream, Status> {
    let Some(first) = stream.message().await? else {
        return Err(Status::invalid_argument(
            "the upload is empty: send the file's name and bytes",
        ));
    };
    let name = first.file_name.trim().to_string();
    if !regfed_formats::xlsx::is_workbook(std::path::Path::new(&name)) {
        return Err(Status::invalid_argument(format!(
            "upload {name:?}: only workbooks (.xlsx, .xlsm, .xls, .xlsb, .ods) are uploaded; send CSV and JSONL files with Submit"
        )));
    }
    let department = match &caller {
        Caller::Department { code, .. } => {
            if !first.department.is_empty() && first.department != *code {
                return Err(Status::permission_denied(format!(
                    "department {code} may upload only as itself, not as {}",
                    first.department
                )));
            }
            code.clone()
        }
        Caller::Operator { .. } => {
            if node.config.local_department(&first.department).is_none() {
                return Err(Status::invalid_argument(format!(
                    "an operator must name a department registered at node {} (field department); {:?} is not",
                    node.config.id, first.department
                )));
            }
            first.department.clone()
        }
    };
    let dataset = (!first.dataset.is_empty()).then(|| first.dataset.clone());
    if let Some(d) = &dataset {
        if node.config.pack.dataset(d).is_none() {
            return Err(super::unknown_dataset(&node.config.pack, d));
        }
    }
    let limit = node.config.limits.max_upload_bytes;
    let mut bytes = first.data;
    while let Some(piece) = stream.message().await? {
        if bytes.len() + piece.data.len() > limit {
            return Err(Status::resource_exhausted(format!(
                "upload {name:?} is larger than this node's limit of {limit} bytes (limits.max_upload_bytes); split the workbook"
            )));
        }
        bytes.extend_from_slice(&piece.data);
    }
    tracing::info!(file = %name, bytes = bytes.len(), %department, "Workbook uploaded.");

    // Events go out as fast as the client reads; verdicts come at ingest speed, far slower
    // than a connection drains them, so this queue stays short.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Result<pb::UploadEvent, Status>>();
    let pack = node.config.pack.clone();
    tokio::spawn(async move {
        let send = |kind: pb::upload_event::Kind| {
            let _ = tx.send(Ok(pb::UploadEvent { kind: Some(kind) }));
        };
        let submitter = Arc::new(NodeSubmitter {
            node: node.clone(),
            caller,
        });
        let file = name.clone();
        let result = import::import(
            move || Workbook::from_bytes(&file, bytes),
            pack,
            ImportOptions {
                department: Some(department),
                dataset,
                batch: UPLOAD_BATCH.min(node.config.limits.max_batch_records),
                window: UPLOAD_WINDOW,
            },
            submitter,
            ReportTarget::Bytes,
            |p| {
                send(pb::upload_event::Kind::Progress(pb::ImportProgress {
                    sheet: p.sheet.clone(),
                    dataset: p.dataset.clone(),
                    rows_done: p.rows_done,
                    rows_total: p.rows_total,
                }))
            },
            |results| {
                send(pb::upload_event::Kind::Results(pb::ImportResults {
                    results: results.to_vec(),
                }))
            },
        )
        .await;
        match result {
            Ok(outcome) => {
                send(pb::upload_event::Kind::Summary(pb::ImportSummary {
                    rows: outcome.rows,
                    accepted: outcome.accepted,
                    rejected: outcome.rejected,
                    unchanged: outcome.unchanged,
                    not_submitted: outcome.not_submitted,
                    notes: outcome.notes,
                    pack: outcome.pack,
                }));
                for piece in outcome.report.unwrap_or_default().chunks(UPLOAD_CHUNK) {
                    send(pb::upload_event::Kind::Report(piece.to_vec()));
                }
            }
            Err(e) => {
                let message = crate::cli::error_chain(&e);
                tracing::warn!(file = %name, error = %message, "Workbook import failed.");
                let _ = tx.send(Err(Status::failed_precondition(format!(
                    "upload {name:?}: {message}"
                ))));
            }
        }
    });
    Ok(Box::pin(
        tokio_stream::wrappers::UnboundedReceiverStream::new(rx),
    ))
}
