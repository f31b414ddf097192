//! TLS for the stand-in AWS endpoint, as the functions meet it in AWS: a certificate chain they
//! verify against the platform's trust store. A throwaway CA signs a certificate for `localhost`;
//! the functions get `SSL_CERT_FILE` naming a bundle of the machine's own roots plus that CA, so
//! loading their trust store costs what loading the platform's costs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Where Debian and Amazon Linux (the Lambda OS) keep the platform's roots.
const PLATFORM_BUNDLES: [&str; 2] = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"];

/// The host name the stand-in's certificate is for, and the one the functions are pointed at.
pub const HOST: &str = "localhost";

/// The server's configuration and the bundle the functions trust.
pub struct Tls {
    pub server: Arc<ServerConfig>,
    pub bundle: PathBuf,
    /// How many roots the bundle holds besides the stand-in's CA.
    pub platform_roots: usize,
}

fn failed(what: &str) -> impl Fn(rcgen::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Makes the CA and the server certificate and writes the bundle into `dir`.
///
/// # Errors
/// When a key or certificate cannot be made or the bundle cannot be written.
pub fn prepare(dir: &Path) -> Result<Tls, String> {
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(failed("CA parameters"))?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "Fluxo cold-start benchmark CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().map_err(failed("CA key"))?)
        .map_err(failed("CA certificate"))?;

    let mut leaf = CertificateParams::new(vec![HOST.to_owned()]).map_err(failed("server parameters"))?;
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate().map_err(failed("server key"))?;
    let leaf = leaf.signed_by(&leaf_key, &ca).map_err(failed("server certificate"))?;

    let chain = vec![leaf.der().clone(), CertificateDer::from(ca.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("TLS server configuration: {e}"))?;

    let platform = PLATFORM_BUNDLES.iter().find_map(|path| std::fs::read_to_string(path).ok()).unwrap_or_default();
    let bundle = dir.join("fluxo-coldstart-roots.pem");
    std::fs::write(&bundle, format!("{platform}\n{}", ca.pem())).map_err(|e| format!("{}: {e}", bundle.display()))?;
    Ok(Tls { server: Arc::new(server), bundle, platform_roots: platform.matches("BEGIN CERTIFICATE").count() })
}
