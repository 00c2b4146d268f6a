//! Batch inference cases (model invocation jobs, their records, async invocations), run
//! once per backend like the others (see main.rs).

use spillway_store::{
    AsyncInvoke, AsyncInvokeQuery, AsyncInvokeStatus, BatchJob, BatchJobQuery, BatchJobStatus, ListFilter,
    RecordResult, StoreError,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::Harness;

const ACCOUNT: &str = "123456789012";
const OTHER: &str = "210987654321";
const REGION: &str = "us-east-1";
const MODEL: &str = "us.anthropic.claude-3-haiku-20240307-v1:0";
const T0: OffsetDateTime = datetime!(2024-05-03 21:47:23.801 UTC);

fn job(account: &str, id: &str, name: &str, at: OffsetDateTime, token: Option<&str>) -> BatchJob {
    BatchJob {
        arn: format!("arn:aws:bedrock:{REGION}:{account}:model-invocation-job/{id}"),
        id: id.to_owned(),
        account: account.to_owned(),
        region: REGION.to_owned(),
        name: name.to_owned(),
        model_id: MODEL.to_owned(),
        role_arn: format!("arn:aws:iam::{account}:role/batch"),
        input_config: r#"{"s3InputDataConfig":{"s3Uri":"s3://in/"}}"#.to_owned(),
        output_config: r#"{"s3OutputDataConfig":{"s3Uri":"s3://out/"}}"#.to_owned(),
        vpc_config: None,
        input_s3_uri: "s3://in/".to_owned(),
        output_s3_uri: "s3://out/".to_owned(),
        invocation_type: None,
        timeout_hours: 24,
        status: BatchJobStatus::Submitted,
        message: None,
        submit_time: at,
        updated_at: at,
        end_time: None,
        expires_at: at + Duration::hours(24),
        client_request_token: token.map(str::to_owned),
        total_records: None,
        processed_records: 0,
        success_records: 0,
        error_records: 0,
        input_tokens: 0,
        output_tokens: 0,
    }
}

fn result(seq: u64, ok: bool) -> RecordResult {
    RecordResult {
        seq,
        file: "in.jsonl".to_owned(),
        output: format!("{{\"recordId\":\"{seq}\"}}"),
        ok,
        input_tokens: 10,
        output_tokens: if ok { 5 } else { 0 },
    }
}

pub async fn batch_job_create_get_list_stop(h: &Harness) {
    let s = &h.store;
    let a = s.create_batch_job(&job(ACCOUNT, "aaaaaaaaaaaa", "job-a", T0, Some("tok")), 20).await.unwrap();
    assert_eq!(a.status, BatchJobStatus::Submitted);
    // The same token returns the original job, not a second one.
    let again = s.create_batch_job(&job(ACCOUNT, "cccccccccccc", "job-c", T0, Some("tok")), 20).await.unwrap();
    assert_eq!(again.arn, a.arn);
    s.create_batch_job(&job(ACCOUNT, "bbbbbbbbbbbb", "other-b", T0 + Duration::seconds(1), None), 20).await.unwrap();
    assert_eq!(s.get_batch_job(ACCOUNT, REGION, "aaaaaaaaaaaa").await.unwrap(), a);
    assert_eq!(s.get_batch_job(ACCOUNT, REGION, &a.arn).await.unwrap(), a);
    assert!(matches!(s.get_batch_job(OTHER, REGION, &a.arn).await, Err(StoreError::NotFound)));
    // The quota of unfinished jobs per model.
    let third = s.create_batch_job(&job(ACCOUNT, "dddddddddddd", "job-d", T0, None), 2).await;
    assert!(matches!(third, Err(StoreError::Conflict(m)) if m.contains("quota")));

    let all = jobs(ListFilter { limit: 10, descending: true, ..ListFilter::default() });
    let names: Vec<String> =
        s.list_batch_jobs(ACCOUNT, REGION, &all).await.unwrap().into_iter().map(|j| j.name).collect();
    assert_eq!(names, ["other-b", "job-a"]);
    let q = jobs(ListFilter { name_contains: Some("JOB".into()), limit: 10, ..ListFilter::default() });
    assert_eq!(s.list_batch_jobs(ACCOUNT, REGION, &q).await.unwrap().len(), 1);
    let q = jobs(ListFilter { limit: 1, offset: 1, ..ListFilter::default() });
    assert_eq!(s.list_batch_jobs(ACCOUNT, REGION, &q).await.unwrap()[0].name, "other-b");
    assert!(s.list_batch_jobs(OTHER, REGION, &all).await.unwrap().is_empty());

    let stopped = s.stop_batch_job(ACCOUNT, REGION, "aaaaaaaaaaaa", T0 + Duration::seconds(2)).await.unwrap();
    assert_eq!(stopped.status, BatchJobStatus::Stopping);
    let q = BatchJobQuery { status: Some(BatchJobStatus::Stopping), filter: ten() };
    assert_eq!(s.list_batch_jobs(ACCOUNT, REGION, &q).await.unwrap().len(), 1);
    assert!(matches!(s.stop_batch_job(OTHER, REGION, &a.arn, T0).await, Err(StoreError::NotFound)));
}

pub async fn batch_job_lease_records_and_takeover(h: &Harness) {
    let s = &h.store;
    let j = s.create_batch_job(&job(ACCOUNT, "aaaaaaaaaaaa", "job-a", T0, None), 20).await.unwrap();
    let now = T0 + Duration::seconds(1);
    let taken = s.lease_batch_jobs("one", now, now + Duration::seconds(10), 5).await.unwrap();
    assert_eq!(taken.len(), 1);
    // Held: nobody else takes it while the lease lasts.
    assert!(s.lease_batch_jobs("two", now, now + Duration::seconds(10), 5).await.unwrap().is_empty());
    assert!(s.advance_batch_job(&j.arn, "one", BatchJobStatus::Scheduled, None, Some(3), now).await.unwrap());
    assert!(!s.advance_batch_job(&j.arn, "two", BatchJobStatus::InProgress, None, None, now).await.unwrap());

    assert_eq!(
        s.record_batch_results(&j.arn, "one", &[result(0, true), result(2, false)], now).await.unwrap(),
        Some(2)
    );
    assert_eq!(s.batch_answered(&j.arn).await.unwrap(), [0, 2]);

    // "one" dies; once its lease ran out "two" takes over and is not counted twice.
    let later = now + Duration::seconds(11);
    assert_eq!(s.lease_batch_jobs("two", later, later + Duration::seconds(10), 5).await.unwrap().len(), 1);
    assert_eq!(s.renew_batch_lease(&j.arn, "one", later).await.unwrap(), None);
    assert_eq!(s.record_batch_results(&j.arn, "one", &[result(1, true)], later).await.unwrap(), None);
    let again = s.record_batch_results(&j.arn, "two", &[result(0, true), result(1, true)], later).await.unwrap();
    assert_eq!(again, Some(1));
    let now_job = s.batch_job(&j.arn).await.unwrap();
    assert_eq!((now_job.total_records, now_job.processed_records), (Some(3), 3));
    assert_eq!((now_job.success_records, now_job.error_records), (2, 1));
    assert_eq!((now_job.input_tokens, now_job.output_tokens), (30, 10));
    let page = s.batch_output_page(&j.arn, "in.jsonl", None, 2).await.unwrap();
    assert_eq!(page.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), [0, 1]);
    let rest = s.batch_output_page(&j.arn, "in.jsonl", Some(1), 2).await.unwrap();
    assert_eq!(rest, [(2, "{\"recordId\":\"2\"}".to_owned())]);

    // A stop request reaches the runner through its renewal; it ends the job once.
    s.stop_batch_job(ACCOUNT, REGION, &j.arn, later).await.unwrap();
    assert_eq!(s.renew_batch_lease(&j.arn, "two", later).await.unwrap(), Some(BatchJobStatus::Stopping));
    assert!(s.finish_batch_job(&j.arn, "two", BatchJobStatus::Stopped, None, later).await.unwrap());
    assert!(!s.finish_batch_job(&j.arn, "two", BatchJobStatus::Completed, None, later).await.unwrap());
    let ended = h.reopen().await.get_batch_job(ACCOUNT, REGION, &j.arn).await.unwrap();
    assert_eq!((ended.status, ended.end_time), (BatchJobStatus::Stopped, Some(later)));
    assert!(matches!(s.stop_batch_job(ACCOUNT, REGION, &j.arn, later).await, Err(StoreError::Conflict(_))));
    // Ended jobs are no work.
    let much_later = later + Duration::hours(1);
    assert!(s.lease_batch_jobs("three", much_later, much_later, 5).await.unwrap().is_empty());
}

pub async fn async_invoke_lifecycle(h: &Harness) {
    let s = &h.store;
    let a = AsyncInvoke {
        arn: format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:async-invoke/aaaaaaaaaaaa"),
        id: "aaaaaaaaaaaa".to_owned(),
        account: ACCOUNT.to_owned(),
        region: REGION.to_owned(),
        model_id: MODEL.to_owned(),
        model_arn: format!("arn:aws:bedrock:{REGION}::foundation-model/m"),
        model_input: "{}".to_owned(),
        output_config: "{}".to_owned(),
        output_s3_uri: "s3://out/".to_owned(),
        status: AsyncInvokeStatus::InProgress,
        failure_message: None,
        submit_time: T0,
        updated_at: T0,
        end_time: None,
        client_request_token: Some("t1".to_owned()),
    };
    let saved = s.create_async_invoke(&a).await.unwrap();
    assert_eq!(saved, a);
    let retry = AsyncInvoke { arn: a.arn.replace("aaaa", "bbbb"), id: "bbbbbbbbbbbb".into(), ..a.clone() };
    assert_eq!(s.create_async_invoke(&retry).await.unwrap().arn, a.arn);
    assert!(matches!(s.get_async_invoke(OTHER, REGION, &a.arn).await, Err(StoreError::NotFound)));
    let now = T0 + Duration::seconds(1);
    assert_eq!(s.lease_async_invokes("one", now, now + Duration::seconds(10), 5).await.unwrap().len(), 1);
    assert!(s.lease_async_invokes("two", now, now + Duration::seconds(10), 5).await.unwrap().is_empty());
    assert!(s.renew_async_lease(&a.arn, "one", now + Duration::seconds(10)).await.unwrap());
    assert!(!s.finish_async_invoke(&a.arn, "two", Ok(()), now).await.unwrap());
    assert!(s.finish_async_invoke(&a.arn, "one", Err("no capacity"), now).await.unwrap());
    let done = s.get_async_invoke(ACCOUNT, REGION, &a.arn).await.unwrap();
    assert_eq!((done.status, done.failure_message.as_deref()), (AsyncInvokeStatus::Failed, Some("no capacity")));
    let q = AsyncInvokeQuery { status: Some(AsyncInvokeStatus::Failed), filter: ten() };
    assert_eq!(s.list_async_invokes(ACCOUNT, REGION, &q).await.unwrap().len(), 1);
    let q = AsyncInvokeQuery { status: Some(AsyncInvokeStatus::Completed), filter: ten() };
    assert!(s.list_async_invokes(ACCOUNT, REGION, &q).await.unwrap().is_empty());
}

fn jobs(filter: ListFilter) -> BatchJobQuery {
    BatchJobQuery { filter, ..BatchJobQuery::default() }
}

fn ten() -> ListFilter {
    ListFilter { limit: 10, ..ListFilter::default() }
}
