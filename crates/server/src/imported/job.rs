//! The import job runner. A job created here runs at once in a task of its own:
//! 1. copy the model data from the object store to
//!    `<data-dir>/imported-models/{model id}.gguf.partial` (the model must outlive its
//!    source object);
//! 2. check the GGUF header (magic, version, `general.architecture`);
//! 3. move the copy in place and start the model's engine, waiting until llama.cpp has
//!    loaded it — weights that cannot be loaded (or a build without the engine) fail
//!    the job with the engine's own words;
//! 4. end the job in the store with a compare-and-set that also registers the model.
//!
//! Any failure ends the job Failed with a failureMessage that says what is wrong, and
//! removes the copy. After a restart the driver runs again every job the store still
//! has InProgress, and every few seconds drops the engines of models deleted through
//! another instance.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use spillway_backends::local::gguf::{self, GgufHeader};
use spillway_backends::Backend;
use spillway_catalog::Catalog;
use spillway_store::{ImportJob, ImportedModel, Store};
use time::OffsetDateTime;

use super::source::{Objects, S3Uri};
use super::weights_file;
use crate::serve::Lifecycle;

/// What a job needs; cheap to clone into its task.
#[derive(Debug, Clone)]
pub struct Importer {
    catalog: Arc<Catalog>,
    store: Arc<Store>,
    /// The imported models this instance runs (the dispatcher's registry).
    registry: Arc<super::Registry>,
    objects: Objects,
    data_dir: PathBuf,
    lifecycle: Lifecycle,
}

/// How often the driver looks for models deleted elsewhere (at once when notified).
const RECONCILE_EVERY: Duration = Duration::from_secs(2);

impl Importer {
    pub fn new(
        catalog: Arc<Catalog>,
        store: Arc<Store>,
        registry: Arc<super::Registry>,
        objects: Objects,
        data_dir: PathBuf,
        lifecycle: Lifecycle,
    ) -> Self {
        Self { catalog, store, registry, objects, data_dir, lifecycle }
    }

    /// The weights of an imported model on this instance.
    pub fn weights(&self, model: &ImportedModel) -> PathBuf {
        self.data_dir.join(&model.file)
    }

    /// Runs `job` in the background. Shutdown drops it wherever it is: the job stays
    /// InProgress in the store and runs again from the start at the next start.
    pub fn spawn(&self, job: ImportJob) {
        let importer = self.clone();
        self.lifecycle.spawn_cancellable(async move { importer.run(job).await });
    }

    /// Resumes the unfinished jobs of the store and starts the driver; it stops when the
    /// store or the registry is dropped.
    pub async fn start(&self) {
        match self.store.unfinished_import_jobs().await {
            Ok(jobs) => jobs.into_iter().for_each(|job| self.spawn(job)),
            Err(e) => tracing::warn!(error = %e, "model import: cannot read unfinished jobs"),
        }
        let (store, registry): (Weak<Store>, Weak<super::Registry>) =
            (Arc::downgrade(&self.store), Arc::downgrade(&self.registry));
        let ticks = self.lifecycle.clone();
        self.lifecycle.spawn(async move {
            // Or sooner, when another instance imported or deleted a model.
            while ticks.wait(crate::control_events::pause(RECONCILE_EVERY, &crate::control_events::IMPORTED)).await {
                let (Some(store), Some(registry)) = (store.upgrade(), registry.upgrade()) else { break };
                match store.imported_model_arns().await {
                    Ok(arns) => {
                        let arns: std::collections::HashSet<String> = arns.into_iter().collect();
                        registry.retain(|arn| arns.contains(arn));
                    }
                    Err(e) => tracing::warn!(error = %e, "model import: cannot list imported models"),
                }
            }
        });
    }

    async fn run(&self, job: ImportJob) {
        let id = job.imported_model_arn.rsplit('/').next().unwrap_or_default().to_owned();
        let dest = self.data_dir.join(weights_file(&id));
        let outcome = self.import(&job, &id, &dest).await;
        let now = OffsetDateTime::now_utc();
        let finished = self.store.finish_import_job(&job, outcome.as_ref().map_err(String::as_str), now).await;
        match (finished, outcome) {
            (Ok(true), Ok(model)) => {
                tracing::info!(job = %job.arn, model = %model.arn, architecture = %model.architecture, "model imported");
            }
            (Ok(true), Err(message)) => {
                tracing::info!(job = %job.arn, %message, "model import failed");
                self.discard(&job, &dest).await;
            }
            // Another instance ended the job first: its result stands.
            (Ok(false), _) => self.discard(&job, &dest).await,
            (Err(e), _) => {
                tracing::error!(job = %job.arn, error = %e, "model import: the store failed; the job will run again at the next start");
                self.discard(&job, &dest).await;
            }
        }
    }

    /// Steps 1–3; the model to register, or the job's failureMessage.
    async fn import(&self, job: &ImportJob, id: &str, dest: &Path) -> Result<ImportedModel, String> {
        let uri = S3Uri::parse(&job.s3_uri).ok_or_else(|| format!("The s3Uri {} is not valid.", job.s3_uri))?;
        let partial = dest.with_extension("gguf.partial");
        let size = match self.objects.download(&uri, &partial).await {
            Ok(size) => size,
            Err(message) => {
                remove(&partial).await;
                return Err(message);
            }
        };
        let header = match check(&partial).await {
            Ok(h) => h,
            Err(e) => {
                remove(&partial).await;
                return Err(format!("The model data at {uri} can't be imported: {e}."));
            }
        };
        tokio::fs::rename(&partial, dest).await.map_err(|e| format!("Cannot move the weights in place: {e}"))?;
        self.load(job, dest).await.map_err(|e| {
            // llama.cpp's own reason goes to the log only; say what the header showed.
            format!("{e} (a GGUF of architecture {} with {} tensors)", header.architecture, header.tensor_count)
        })?;
        Ok(ImportedModel {
            arn: job.imported_model_arn.clone(),
            id: id.to_owned(),
            account: job.account.clone(),
            region: job.region.clone(),
            name: job.imported_model_name.clone(),
            job_arn: job.arn.clone(),
            job_name: job.name.clone(),
            s3_uri: job.s3_uri.clone(),
            architecture: header.architecture,
            instruct_supported: header.chat_template,
            file: weights_file(id).display().to_string(),
            size_bytes: size,
            created_at: OffsetDateTime::now_utc(),
        })
    }

    /// Starts the model's engine and waits for llama.cpp to load the weights.
    async fn load(&self, job: &ImportJob, file: &Path) -> Result<(), String> {
        let Some(serving) = self.registry.serve(&self.catalog, &job.imported_model_arn, &job.region, file) else {
            return Err("The imported model was deleted while its job ran.".to_owned());
        };
        let Backend::Local(local) = &serving.pool.backend else {
            return Err("Imported models run on the local engine only.".to_owned());
        };
        local.load_time().await.map(|_| ()).map_err(|e| e.to_string())
    }

    /// Undoes what a job that does not count left behind: its engine and its weights.
    async fn discard(&self, job: &ImportJob, dest: &Path) {
        let registered = self.store.get_imported_model(&job.account, &job.region, &job.imported_model_arn).await;
        if registered.is_err() {
            self.registry.evict(&job.imported_model_arn);
            remove(dest).await;
        }
    }
}

/// The GGUF header of `file`, read off the async runtime.
async fn check(file: &Path) -> Result<GgufHeader, String> {
    let file = file.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&file).map_err(|e| format!("cannot open the copy: {e}"))?;
        gguf::read_header(std::io::BufReader::new(f)).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("the check failed: {e}"))?
}

async fn remove(file: &Path) {
    if let Err(e) = tokio::fs::remove_file(file).await {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(file = %file.display(), error = %e, "cannot remove imported weights");
        }
    }
}
