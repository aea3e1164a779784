//! The client API over mutual-TLS gRPC: submit, issues, query, stats, status. Maps every
//! failure to a `tonic::Status` once, here.

pub mod auth;
mod cluster;
pub mod link;
pub mod raft;
mod submit;
mod workbook;

pub use workbook::template_bytes;

use std::sync::Arc;

use regfed_governance::{Region, RegionTable};
use regfed_proto::v1 as pb;
use tonic::{Request, Response, Status};

use crate::convert;
use crate::metrics::Metrics;
use crate::node::Node;
use crate::state::read;
use auth::{authorize, Caller};

/// Default and maximum records in one query page.
const QUERY_PAGE: usize = 1000;
const QUERY_PAGE_MAX: usize = 10_000;

#[derive(Clone)]
pub struct RegfedService {
    node: Arc<Node>,
}

impl RegfedService {
    pub fn new(node: Arc<Node>) -> Self {
        RegfedService { node }
    }

    fn authorize<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        authorize(&self.node.config, request).inspect_err(|_| {
            Metrics::add(&self.node.metrics.rpc_denied_total, 1);
        })
    }
}

/// A failed read of the store is this node's problem, not the caller's.
pub(crate) fn internal(error: impl std::fmt::Display) -> Status {
    tracing::error!(%error, "Store read failed.");
    Status::internal(format!("node store error: {error}"))
}

/// Reads that must reflect everything acknowledged so far wait until this node has
/// applied what its leader committed (on a group of one, what it committed itself).
async fn ensure_current(node: &Node) -> Result<(), Status> {
    node.raft
        .ensure_linearizable()
        .await
        .map(|_| ())
        .map_err(|e| submit::raft_status(&node.config, e))
}

#[tonic::async_trait]
impl pb::regfed_server::Regfed for RegfedService {
    #[tracing::instrument(skip_all, fields(node = %self.node.config.id))]
    async fn submit(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let caller = self.authorize(&request)?;
        let answer = submit::submit(&self.node, &caller, request.into_inner()).await;
        if answer.is_err() {
            Metrics::add(&self.node.metrics.submit_refused_total, 1);
        }
        answer.map(Response::new)
    }

    #[tracing::instrument(skip_all, fields(node = %self.node.config.id))]
    async fn issues(
        &self,
        request: Request<pb::IssuesRequest>,
    ) -> Result<Response<pb::IssuesResponse>, Status> {
        let caller = self.authorize(&request)?;
        let request = request.into_inner();
        let department = match (&caller, request.department.as_str()) {
            (Caller::Department { code, .. }, "") => Some(code.clone()),
            (Caller::Department { code, .. }, asked) if asked == code => Some(code.clone()),
            (Caller::Department { code, .. }, asked) => {
                return Err(Status::permission_denied(format!(
                    "department {code} may only see its own queue, not that of {asked}"
                )))
            }
            (Caller::Operator { .. }, "") => None,
            (Caller::Operator { .. }, asked) => Some(asked.to_string()),
        };
        ensure_current(&self.node).await?;
        let node = self.node.clone();
        let entries = tokio::task::spawn_blocking(move || {
            read::queue(
                &node.store,
                department.as_deref(),
                request.include_rectified,
            )
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| convert::queue::queue_to_pb(e, node.config.pack.dataset(&e.dataset)))
                    .collect::<Vec<_>>()
            })
        })
        .await
        .map_err(internal)?
        .map_err(internal)?;
        Ok(Response::new(pb::IssuesResponse { entries }))
    }

    #[tracing::instrument(skip_all, fields(node = %self.node.config.id))]
    async fn query(
        &self,
        request: Request<pb::QueryRequest>,
    ) -> Result<Response<pb::QueryResponse>, Status> {
        let caller = self.authorize(&request)?;
        let request = request.into_inner();
        let pack = self.node.config.pack.clone();
        let dataset = request.dataset.clone();
        if pack.dataset(&request.dataset).is_none() {
            return Err(unknown_dataset(&pack, &request.dataset));
        }
        let region = if request.region.is_empty() {
            None
        } else {
            let r = Region::parse(&request.region).map_err(|e| {
                Status::invalid_argument(format!("query region {:?}: {e}", request.region))
            })?;
            Some(r)
        };
        let limit = match request.limit as usize {
            0 => QUERY_PAGE,
            n => n.min(QUERY_PAGE_MAX),
        };
        ensure_current(&self.node).await?;
        let node = self.node.clone();
        let department = caller.department().map(str::to_string);
        let page = tokio::task::spawn_blocking(move || {
            read::query(
                &node.store,
                RegionTable::builtin(),
                &request.dataset,
                &request.after,
                limit,
                region.as_ref(),
            )
        })
        .await
        .map_err(internal)?
        .map_err(|e| match e {
            read::ReadError::BadCursor(_) => Status::invalid_argument(e.to_string()),
            other => internal(other),
        })?;
        let spec = pack.dataset(&dataset);
        let here = crate::state::model::Hop {
            tier: self.node.config.tier.as_str().to_string(),
            region: self.node.config.region.to_string(),
            received_at: 0,
        };
        let records = page
            .records
            .iter()
            .filter(|r| {
                department
                    .as_deref()
                    .is_none_or(|d| r.origin.department == d)
            })
            .map(|r| convert::record::stored_to_pb(r, spec, &here))
            .collect();
        Ok(Response::new(pb::QueryResponse {
            records,
            cursor: page.cursor,
            more: page.more,
        }))
    }

    #[tracing::instrument(skip_all, fields(node = %self.node.config.id))]
    async fn stats(
        &self,
        request: Request<pb::StatsRequest>,
    ) -> Result<Response<pb::StatsResponse>, Status> {
        let caller = self.authorize(&request)?;
        let request = request.into_inner();
        let today = crate::state::china_day(crate::node::now_millis()).to_string();
        let from = if request.from.is_empty() {
            "0000-01-01".to_string()
        } else {
            check_date("from", &request.from)?
        };
        let to = if request.to.is_empty() {
            today
        } else {
            check_date("to", &request.to)?
        };
        if from > to {
            return Err(Status::invalid_argument(format!(
                "stats period from {from} is after to {to}"
            )));
        }
        ensure_current(&self.node).await?;
        let node = self.node.clone();
        let (f, t) = (from.clone(), to.clone());
        let rows = tokio::task::spawn_blocking(move || {
            read::stats(
                &node.store,
                &node.config.pack,
                RegionTable::builtin(),
                &node.config.region,
                &f,
                &t,
            )
        })
        .await
        .map_err(internal)?
        .map_err(internal)?;
        let department = caller.department();
        let rows = rows
            .iter()
            .filter(|r| match (department, &r.department) {
                (Some(mine), Some(d)) => d == mine,
                _ => true,
            })
            .map(|r| {
                let name = r
                    .department
                    .as_ref()
                    .and_then(|d| self.node.config.department_name(d));
                convert::stats::row_to_pb(r, name)
            })
            .collect();
        let from = if request.from.is_empty() {
            String::new()
        } else {
            from
        };
        Ok(Response::new(pb::StatsResponse {
            scope: self.node.config.region.to_string(),
            from,
            to,
            rows,
        }))
    }

    #[tracing::instrument(skip_all, fields(node = %self.node.config.id))]
    async fn template(
        &self,
        request: Request<pb::TemplateRequest>,
    ) -> Result<Response<pb::TemplateResponse>, Status> {
        self.authorize(&request)?;
        let pack = self.node.config.pack.clone();
        let request = request.into_inner();
        tokio::task::spawn_blocking(move || workbook::template(&pack, request))
            .await
            .map_err(internal)?
            .map(Response::new)
    }

    type UploadStream = workbook::UploadStream;

    #[tracing::instrument(skip_all, fields(node = %self.node.config.id))]
    async fn upload(
        &self,
        request: Request<tonic::Streaming<pb::UploadRequest>>,
    ) -> Result<Response<Self::UploadStream>, Status> {
        let caller = self.authorize(&request)?;
        workbook::upload(self.node.clone(), caller, request.into_inner())
            .await
            .map(Response::new)
    }

    #[tracing::instrument(skip_all, fields(node = %self.node.config.id))]
    async fn cluster(
        &self,
        request: Request<pb::ClusterRequest>,
    ) -> Result<Response<pb::ClusterResponse>, Status> {
        let caller = self.authorize(&request)?;
        if caller.department().is_some() {
            return Err(Status::permission_denied(
                "only operators may show or change the node's Raft group",
            ));
        }
        cluster::cluster(&self.node, request.into_inner())
            .await
            .map(Response::new)
    }

    #[tracing::instrument(skip_all, fields(node = %self.node.config.id))]
    async fn status(
        &self,
        request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let caller = self.authorize(&request)?;
        Ok(Response::new(
            self.node
                .status(Some(caller.identity().to_uri()))
                .await
                .map_err(internal)?,
        ))
    }
}

fn check_date(name: &str, value: &str) -> Result<String, Status> {
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map(|d| d.to_string())
        .map_err(|_| {
            Status::invalid_argument(format!(
                "stats {name} {value:?} is not a date like 2026-01-31"
            ))
        })
}

pub(crate) fn unknown_dataset(pack: &regfed_governance::RulePack, name: &str) -> Status {
    let known: Vec<&str> = pack.datasets().iter().map(|d| d.name.as_str()).collect();
    Status::invalid_argument(format!(
        "unknown data set {name:?}; this node knows {}",
        known.join(", ")
    ))
}
