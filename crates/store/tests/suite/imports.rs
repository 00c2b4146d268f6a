//! Custom Model Import cases (jobs and imported models), run once per backend like the
//! others (see main.rs).

use spillway_store::{ImportJob, ImportJobQuery, ImportJobStatus, ImportedModel, ListFilter, StoreError};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::Harness;

const ACCOUNT: &str = "123456789012";
const OTHER: &str = "210987654321";
const REGION: &str = "us-east-1";
const T0: OffsetDateTime = datetime!(2024-05-03 21:47:23.801 UTC);

fn job(account: &str, id: &str, name: &str, model: &str, created: OffsetDateTime) -> ImportJob {
    ImportJob {
        arn: format!("arn:aws:bedrock:{REGION}:{account}:model-import-job/{id}"),
        id: id.to_owned(),
        account: account.to_owned(),
        region: REGION.to_owned(),
        name: name.to_owned(),
        imported_model_name: model.to_owned(),
        imported_model_arn: format!("arn:aws:bedrock:{REGION}:{account}:imported-model/m{}", &id[1..]),
        role_arn: format!("arn:aws:iam::{account}:role/import"),
        s3_uri: "s3://models/gemma.gguf".to_owned(),
        status: ImportJobStatus::InProgress,
        failure_message: None,
        imported_model_tags: vec![("team".to_owned(), "ml".to_owned())],
        created_at: created,
        updated_at: created,
        end_time: None,
        client_request_token: None,
    }
}

fn model_of(j: &ImportJob, at: OffsetDateTime) -> ImportedModel {
    ImportedModel {
        arn: j.imported_model_arn.clone(),
        id: j.imported_model_arn.rsplit('/').next().unwrap().to_owned(),
        account: j.account.clone(),
        region: j.region.clone(),
        name: j.imported_model_name.clone(),
        job_arn: j.arn.clone(),
        job_name: j.name.clone(),
        s3_uri: j.s3_uri.clone(),
        architecture: "gemma3".to_owned(),
        instruct_supported: false,
        file: "imported-models/x.gguf".to_owned(),
        size_bytes: 253_000_000,
        created_at: at,
    }
}

fn page() -> ListFilter {
    ListFilter { limit: 100, ..ListFilter::default() }
}

pub async fn import_job_lifecycle(h: &Harness) {
    let s = &h.store;
    let a = s.create_import_job(&job(ACCOUNT, "jaaaaaaaaaaa", "job-a", "model_a", T0)).await.unwrap();
    assert_eq!(a.status, ImportJobStatus::InProgress);
    assert_eq!(a.imported_model_tags, [("team".to_owned(), "ml".to_owned())]);
    let b = job(ACCOUNT, "jbbbbbbbbbbb", "job-b", "model_b", T0 + Duration::seconds(1));
    s.create_import_job(&b).await.unwrap();
    assert_eq!(s.get_import_job(ACCOUNT, REGION, "job-a").await.unwrap(), a);
    assert_eq!(s.get_import_job(ACCOUNT, REGION, &a.arn).await.unwrap(), a);
    assert!(matches!(s.get_import_job(OTHER, REGION, &a.arn).await, Err(StoreError::NotFound)));
    assert!(matches!(s.get_import_job(ACCOUNT, "us-west-2", &a.arn).await, Err(StoreError::NotFound)));
    assert_eq!(s.unfinished_import_jobs().await.unwrap().len(), 2);

    // Completing registers the model with the job's tags; a second runner loses the race.
    let done_at = T0 + Duration::seconds(5);
    let model = model_of(&a, done_at);
    assert!(s.finish_import_job(&a, Ok(&model), done_at).await.unwrap());
    assert!(!s.finish_import_job(&a, Err("late"), done_at).await.unwrap());
    let a = s.get_import_job(ACCOUNT, REGION, "job-a").await.unwrap();
    assert_eq!((a.status, a.end_time, a.failure_message.as_deref()), (ImportJobStatus::Completed, Some(done_at), None));
    assert_eq!(s.get_imported_model(ACCOUNT, REGION, "model_a").await.unwrap(), model);
    assert_eq!(s.list_tags(ACCOUNT, &model.arn).await.unwrap(), [("team".to_owned(), "ml".to_owned())]);

    // Failing registers nothing.
    assert!(s.finish_import_job(&b, Err("The file is not a GGUF model."), done_at).await.unwrap());
    let b = s.get_import_job(ACCOUNT, REGION, "job-b").await.unwrap();
    assert_eq!(
        (b.status, b.failure_message.as_deref()),
        (ImportJobStatus::Failed, Some("The file is not a GGUF model."))
    );
    assert!(matches!(s.get_imported_model(ACCOUNT, REGION, "model_b").await, Err(StoreError::NotFound)));
    assert!(s.unfinished_import_jobs().await.unwrap().is_empty());

    // Filters, order and pages.
    let all = |q: ImportJobQuery| async move { s.list_import_jobs(ACCOUNT, REGION, &q).await.unwrap() };
    let names = |jobs: Vec<ImportJob>| jobs.into_iter().map(|j| j.name).collect::<Vec<_>>();
    assert_eq!(names(all(ImportJobQuery { common: page(), ..Default::default() }).await), ["job-a", "job-b"]);
    let newest = ImportJobQuery { common: ListFilter { descending: true, ..page() }, ..Default::default() };
    assert_eq!(names(all(newest).await), ["job-b", "job-a"]);
    let failed = ImportJobQuery { status: Some(ImportJobStatus::Failed), common: page() };
    assert_eq!(names(all(failed).await), ["job-b"]);
    let named =
        ImportJobQuery { common: ListFilter { name_contains: Some("-B".into()), ..page() }, ..Default::default() };
    assert_eq!(names(all(named).await), ["job-b"]);
    let after = ImportJobQuery { common: ListFilter { created_after: Some(T0), ..page() }, ..Default::default() };
    assert_eq!(names(all(after).await), ["job-b"]);
    let second = ImportJobQuery { common: ListFilter { limit: 1, offset: 1, ..page() }, ..Default::default() };
    assert_eq!(names(all(second).await), ["job-b"]);
    assert!(s
        .list_import_jobs(OTHER, REGION, &ImportJobQuery { common: page(), ..Default::default() })
        .await
        .unwrap()
        .is_empty());
}

pub async fn import_names_conflict_and_tokens_are_idempotent(h: &Harness) {
    let s = &h.store;
    let mut a = job(ACCOUNT, "jaaaaaaaaaaa", "job-a", "model_a", T0);
    a.client_request_token = Some("token-1".into());
    let first = s.create_import_job(&a).await.unwrap();
    // The same token returns the original, whatever else the retry says.
    let mut retry = job(ACCOUNT, "jccccccccccc", "job-c", "model_c", T0 + Duration::seconds(1));
    retry.client_request_token = Some("token-1".into());
    assert_eq!(s.create_import_job(&retry).await.unwrap(), first);
    // A job name is taken; so is a model name another running job will register.
    let e = s.create_import_job(&job(ACCOUNT, "jddddddddddd", "job-a", "model_d", T0)).await.unwrap_err();
    assert!(matches!(&e, StoreError::Conflict(m) if m.contains("job-a")), "{e:?}");
    let e = s.create_import_job(&job(ACCOUNT, "jeeeeeeeeeee", "job-e", "model_a", T0)).await.unwrap_err();
    assert!(matches!(&e, StoreError::Conflict(m) if m.contains("imported model named model_a")), "{e:?}");
    // Another account may use both names.
    s.create_import_job(&job(OTHER, "jaaaaaaaaaaa", "job-a", "model_a", T0)).await.unwrap();
    // Once the model exists its name stays taken; once it is deleted, it is free again.
    s.finish_import_job(&first, Ok(&model_of(&first, T0)), T0).await.unwrap();
    let e = s.create_import_job(&job(ACCOUNT, "jffffffffff1", "job-f", "model_a", T0)).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)));
    let deleted = s.delete_imported_model(ACCOUNT, REGION, "model_a").await.unwrap();
    assert_eq!(deleted.name, "model_a");
    assert!(s.list_tags(ACCOUNT, &deleted.arn).await.unwrap().is_empty());
    s.create_import_job(&job(ACCOUNT, "jffffffffff2", "job-f", "model_a", T0)).await.unwrap();
    // A failed job frees its model name too.
    let g = s.get_import_job(ACCOUNT, REGION, "job-f").await.unwrap();
    s.finish_import_job(&g, Err("no"), T0).await.unwrap();
    s.create_import_job(&job(ACCOUNT, "jgggggggggg3", "job-g", "model_a", T0)).await.unwrap();
}

pub async fn imported_models_list_delete_and_survive_restart(h: &Harness) {
    let s = &h.store;
    for (i, name) in ["alpha_one", "beta-two", "gamma"].iter().enumerate() {
        let at = T0 + Duration::seconds(i as i64);
        let j = job(ACCOUNT, &format!("j{i:011}"), &format!("job-{i}"), name, at);
        s.create_import_job(&j).await.unwrap();
        s.finish_import_job(&j, Ok(&model_of(&j, at)), at).await.unwrap();
    }
    let names = |m: Vec<ImportedModel>| m.into_iter().map(|m| m.name).collect::<Vec<_>>();
    let list = |q: ListFilter| async move { s.list_imported_models(ACCOUNT, REGION, &q).await.unwrap() };
    assert_eq!(names(list(page()).await), ["alpha_one", "beta-two", "gamma"]);
    assert_eq!(names(list(ListFilter { descending: true, limit: 2, ..page() }).await), ["gamma", "beta-two"]);
    // `_` in nameContains is a character, not LIKE's wildcard.
    assert_eq!(names(list(ListFilter { name_contains: Some("A_O".into()), ..page() }).await), ["alpha_one"]);
    let before = ListFilter { created_before: Some(T0 + Duration::seconds(1)), ..page() };
    assert_eq!(names(list(before).await), ["alpha_one"]);
    assert!(s.list_imported_models(OTHER, REGION, &page()).await.unwrap().is_empty());
    assert!(matches!(s.delete_imported_model(OTHER, REGION, "gamma").await, Err(StoreError::NotFound)));

    let reopened = h.reopen().await;
    let gamma = reopened.get_imported_model(ACCOUNT, REGION, "gamma").await.unwrap();
    assert_eq!((gamma.architecture.as_str(), gamma.size_bytes), ("gemma3", 253_000_000));
    assert_eq!(reopened.imported_model_arns().await.unwrap().len(), 3);
    reopened.delete_imported_model(ACCOUNT, REGION, &gamma.arn).await.unwrap();
    assert!(matches!(reopened.get_imported_model(ACCOUNT, REGION, "gamma").await, Err(StoreError::NotFound)));
    assert_eq!(reopened.imported_model_arns().await.unwrap().len(), 2);
    reopened.close().await;
}
