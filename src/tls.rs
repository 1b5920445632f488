//! TLS for the three listeners (rustls with ring): a certificate chain and key from PEM files,
//! re-read when either file changes, so a renewed certificate takes effect without a restart.
//! A file that cannot be read or does not match keeps the certificate in use (and is logged).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// How often the files' modification times are checked.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// Where the certificate chain and its private key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {}: {message}", path.display())]
    Pem { path: PathBuf, message: String },
    #[error("{} holds no certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("the key in {} cannot sign: {message}", path.display())]
    Key { path: PathBuf, message: String },
    #[error("the key in {} is not the key of the certificate in {}", key.display(), cert.display())]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("tls configuration: {0}")]
    Config(String),
}

/// The certificate most recently read, handed to every handshake.
#[derive(Debug)]
struct Latest(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Latest {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let latest = match self.0.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        Some(Arc::clone(&latest))
    }
}

/// Acceptors for HTTP (h2 and http/1.1) and gRPC (h2), sharing one reloading certificate.
#[derive(Clone)]
pub struct Tls {
    files: TlsFiles,
    latest: Arc<Latest>,
    pub http: TlsAcceptor,
    pub grpc: TlsAcceptor,
}

impl Tls {
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let latest = Arc::new(Latest(RwLock::new(Arc::new(certified_key(&files)?))));
        Ok(Tls {
            http: acceptor(&latest, &[b"h2", b"http/1.1"])?,
            grpc: acceptor(&latest, &[b"h2"])?,
            files,
            latest,
        })
    }

    /// Re-reads the files whenever their modification times change, until shutdown.
    pub fn watch(&self, shutdown: CancellationToken) -> JoinHandle<anyhow::Result<()>> {
        let tls = self.clone();
        tokio::spawn(async move {
            let mut seen = modified(&tls.files);
            loop {
                tokio::select! {
                    () = tokio::time::sleep(RELOAD_INTERVAL) => {}
                    () = shutdown.cancelled() => return Ok(()),
                }
                let now = modified(&tls.files);
                if now == seen {
                    continue;
                }
                match certified_key(&tls.files) {
                    Ok(key) => {
                        let mut latest = match tls.latest.0.write() {
                            Ok(guard) => guard,
                            Err(poisoned) => poisoned.into_inner(),
                        };
                        *latest = Arc::new(key);
                        seen = now;
                        tracing::info!(cert = %tls.files.cert.display(), "reloaded the TLS certificate");
                    }
                    // Half-written renewals are common: keep the old one and look again.
                    Err(error) => tracing::warn!(%error, "TLS certificate not reloaded"),
                }
            }
        })
    }
}

fn modified(files: &TlsFiles) -> [Option<SystemTime>; 2] {
    let of = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    [of(&files.cert), of(&files.key)]
}

fn certified_key(files: &TlsFiles) -> Result<CertifiedKey, TlsError> {
    let pem = |path: &Path, error: rustls_pki_types::pem::Error| TlsError::Pem {
        path: path.to_owned(),
        message: error.to_string(),
    };
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| pem(&files.cert, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem(&files.cert, e))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: files.cert.clone(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| pem(&files.key, e))?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::Key {
            path: files.key.clone(),
            message: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|_| TlsError::Mismatch {
        cert: files.cert.clone(),
        key: files.key.clone(),
    })?;
    Ok(certified)
}

fn acceptor(latest: &Arc<Latest>, protocols: &[&[u8]]) -> Result<TlsAcceptor, TlsError> {
    let resolver: Arc<dyn ResolvesServerCert> = latest.clone();
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(resolver);
    config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
    Ok(TlsAcceptor::from(Arc::new(config)))
}
