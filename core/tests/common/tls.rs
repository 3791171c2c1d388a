//! TLS for the export tests: certificates made here (rcgen) and a TLS-terminating byte proxy
//! (`tests/harness/tls_proxy.py`, Python's `ssl`) in front of a rotel collector, which has no
//! TLS receiver. The proxy sends ALPN `h2` (gRPC) to rotel's gRPC port, HTTP/1.1 to its HTTP port.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, SanType,
};

/// PEM files in a temporary folder: `ca.pem` (the private CA), `server.pem`/`server.key`
/// (localhost and 127.0.0.1, signed by the CA), `client.pem`/`client.key` (signed by the CA),
/// `other-ca.pem` (a CA that signed nothing here).
pub struct Certs {
    pub dir: PathBuf,
}

impl Certs {
    pub fn make(name: &str) -> Certs {
        let dir = std::env::temp_dir().join(format!(
            "tasker-telemetry-tls-{name}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = ca("tasker test CA");
        let other = ca_cert_only("some other CA");
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.join("other-ca.pem"), other).unwrap();
        leaf(&dir, "server", &ca, ExtendedKeyUsagePurpose::ServerAuth);
        leaf(&dir, "client", &ca, ExtendedKeyUsagePurpose::ClientAuth);
        Certs { dir }
    }

    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn ca_cert_only(name: &str) -> String {
    ca(name).pem()
}

fn leaf(
    dir: &Path,
    name: &str,
    ca: &CertifiedIssuer<'static, KeyPair>,
    usage: ExtendedKeyUsagePurpose,
) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into().unwrap()),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    ];
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
}

/// The proxy; killed on drop.
pub struct TlsProxy {
    child: Child,
    pub port: u16,
}

impl TlsProxy {
    /// TLS on a free port in front of `grpc_port`/`http_port`, with the server certificate of
    /// `certs`; with `require_client_cert`, only clients with a certificate of `certs`' CA.
    pub fn start(
        certs: &Certs,
        grpc_port: u16,
        http_port: u16,
        require_client_cert: bool,
    ) -> TlsProxy {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/harness/tls_proxy.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .args([
                "--cert",
                &certs.path("server.pem"),
                "--key",
                &certs.path("server.key"),
            ])
            .args([
                "--grpc-port",
                &grpc_port.to_string(),
                "--http-port",
                &http_port.to_string(),
            ]);
        if require_client_cert {
            cmd.args(["--client-ca", &certs.path("ca.pem")]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .stdin(Stdio::null())
            .spawn()
            .expect("start python3 tests/harness/tls_proxy.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the TLS proxy did not start: {line:?}"));
        TlsProxy { child, port }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
