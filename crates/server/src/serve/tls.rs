//! HTTPS: rustls on the crypto provider already in the build (aws-lc-rs), with a PEM
//! certificate and key, or a development CA and certificate made under the data directory.
//!
//! The development mode makes a CA of its own and a certificate it signs for localhost,
//! 127.0.0.1 and ::1, rather than one self-signed leaf: OpenSSL clients in strict mode
//! (Python 3.13's default context) refuse a leaf used as its own trust anchor. The files
//! are made once and reused, so an exported `AWS_CA_BUNDLE` stays valid across restarts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use super::args::TlsArgs;

/// What `serve` needs to speak TLS.
pub struct Tls {
    pub acceptor: TlsAcceptor,
    /// The development CA clients must trust (`--tls-self-signed` only).
    pub ca_bundle: Option<PathBuf>,
}

/// The acceptor the flags ask for; `None` for plain HTTP.
pub fn setup(args: &TlsArgs, data_dir: &Path) -> anyhow::Result<Option<Tls>> {
    let (cert, key, ca_bundle) = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone(), None),
        _ if args.tls_self_signed => {
            let files = DevFiles::in_dir(&data_dir.join("tls"));
            files.ensure()?;
            (files.cert, files.key, Some(files.ca))
        }
        _ => return Ok(None),
    };
    let config = server_config(&cert, &key)?;
    Ok(Some(Tls { acceptor: TlsAcceptor::from(Arc::new(config)), ca_bundle }))
}

fn server_config(cert: &Path, key: &Path) -> anyhow::Result<rustls::ServerConfig> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .with_context(|| format!("reading the TLS certificate {}", cert.display()))?;
    if chain.is_empty() {
        bail!("the TLS certificate file {} holds no CERTIFICATE block", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the TLS private key {} (PEM: PKCS#8, PKCS#1 or SEC1)", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("the TLS provider supports no protocol version")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .with_context(|| format!("the TLS key does not fit the certificate {}", cert.display()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The development mode's files.
struct DevFiles {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl DevFiles {
    fn in_dir(dir: &Path) -> Self {
        Self { ca: dir.join("ca.pem"), cert: dir.join("localhost.pem"), key: dir.join("localhost-key.pem") }
    }

    /// Makes the files unless all three are there.
    fn ensure(&self) -> anyhow::Result<()> {
        if [&self.ca, &self.cert, &self.key].iter().all(|p| p.is_file()) {
            return Ok(());
        }
        let (ca, cert, key) = generate().context("making the development certificate")?;
        if let Some(dir) = self.ca.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        write(&self.key, &key, 0o600)?;
        write(&self.cert, &cert, 0o644)?;
        write(&self.ca, &ca, 0o644)
    }
}

/// (CA certificate, server certificate, server key), PEM.
fn generate() -> Result<(String, String, String), rcgen::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.distinguished_name.push(DnType::CommonName, "spillway development CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    let mut params = CertificateParams::new(names)?;
    params.distinguished_name.push(DnType::CommonName, "localhost");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &*ca)?;
    Ok((ca.pem(), cert.pem(), key.serialize_pem()))
}

fn write(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_files_load_and_are_reused() {
        let dir = tempfile::tempdir().unwrap();
        let args = TlsArgs { tls_self_signed: true, ..TlsArgs::default() };
        let tls = setup(&args, dir.path()).unwrap().unwrap();
        let ca = tls.ca_bundle.unwrap();
        let first = std::fs::read_to_string(&ca).unwrap();
        assert!(first.starts_with("-----BEGIN CERTIFICATE-----"));
        // A restart keeps the CA clients already trust.
        let again = setup(&args, dir.path()).unwrap().unwrap();
        assert_eq!(std::fs::read_to_string(again.ca_bundle.unwrap()).unwrap(), first);
    }

    #[test]
    fn files_that_do_not_fit_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let files = DevFiles::in_dir(dir.path());
        files.ensure().unwrap();
        // The CA certificate with the server's key: the key does not fit.
        let args = TlsArgs { tls_cert: Some(files.ca.clone()), tls_key: Some(files.key.clone()), ..TlsArgs::default() };
        let err = format!("{:#}", setup(&args, dir.path()).err().unwrap());
        assert!(err.contains("does not fit the certificate"), "{err}");
        // A key file given as the certificate: no certificate in it.
        let args = TlsArgs { tls_cert: Some(files.key.clone()), tls_key: Some(files.key), ..TlsArgs::default() };
        let err = format!("{:#}", setup(&args, dir.path()).err().unwrap());
        assert!(err.contains("holds no CERTIFICATE"), "{err}");
        assert!(setup(&TlsArgs::default(), dir.path()).unwrap().is_none());
    }
}
