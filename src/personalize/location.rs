//! Where jobs read their input and write their output: `file://` paths, `http(s)://` URLs (read only)
//! and `s3://bucket/key` objects on an S3-compatible endpoint configured as the AWS CLI does
//! (`AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, `AWS_REGION`), with path-style addressing and SigV4-signed requests. `https://`
//! endpoints are verified against the system's trust store plus, as for the AWS CLI, the PEM bundle named
//! by `AWS_CA_BUNDLE`.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A parsed data location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A local file or directory.
    File(PathBuf),
    /// A URL read with GET.
    Http(String),
    /// An object (or, for outputs, a key prefix) in a bucket.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Object key (may be empty or end in `/` for a prefix).
        key: String,
    },
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::File(p) => write!(f, "file://{}", p.display()),
            Location::Http(url) => f.write_str(url),
            Location::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// Input made available as a local file; a downloaded copy is deleted on drop.
pub struct LocalInput {
    path: PathBuf,
    temporary: bool,
}

impl LocalInput {
    /// The local file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LocalInput {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Location {
    /// Parses `file:///abs/path`, `http(s)://...` or `s3://bucket/key`.
    pub fn parse(text: &str) -> Result<Location, String> {
        if let Some(path) = text.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(format!("{text:?}: a file:// location needs an absolute path (file:///data/x.csv)"));
            }
            return Ok(Location::File(PathBuf::from(path)));
        }
        if text.starts_with("http://") || text.starts_with("https://") {
            return Ok(Location::Http(text.to_string()));
        }
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!("{text:?}: no bucket name"));
            }
            return Ok(Location::S3 { bucket: bucket.to_string(), key: key.to_string() });
        }
        Err(format!("{text:?} is not a file://, http(s):// or s3:// location"))
    }

    /// The last path segment (names a batch job's output file).
    pub fn file_name(&self) -> String {
        let path = match self {
            Location::File(p) => p.to_string_lossy().into_owned(),
            Location::Http(url) => url.split('?').next().unwrap_or_default().to_string(),
            Location::S3 { key, .. } => key.clone(),
        };
        path.trim_end_matches('/').rsplit('/').next().filter(|s| !s.is_empty()).unwrap_or("input").to_string()
    }

    /// Makes the input available as a local file (downloading http(s) and s3 objects to a temporary file).
    pub fn fetch(&self) -> Result<LocalInput, String> {
        match self {
            Location::File(path) => {
                if !path.is_file() {
                    return Err(format!("{self}: no such file"));
                }
                Ok(LocalInput { path: path.clone(), temporary: false })
            }
            Location::Http(url) => download(self, reqwest::Method::GET, url, Vec::new(), None),
            Location::S3 { bucket, key } => {
                let s3 = S3::from_env()?;
                let (url, headers) = s3.request("GET", bucket, key, &[])?;
                download(self, reqwest::Method::GET, &url, headers, None)
            }
        }
    }

    /// Writes `bytes` as `name` under this output location (a directory or key prefix) and returns where.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<String, String> {
        match self {
            Location::File(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| format!("{self}: {e}"))?;
                let path = dir.join(name);
                let temporary = dir.join(format!(".{name}.partial"));
                let mut file =
                    std::fs::File::create(&temporary).map_err(|e| format!("{}: {e}", temporary.display()))?;
                file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| format!("{}: {e}", path.display()))?;
                std::fs::rename(&temporary, &path).map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(format!("file://{}", path.display()))
            }
            Location::Http(_) => Err(format!("{self}: outputs go to file:// or s3:// locations")),
            Location::S3 { bucket, key } => {
                let key =
                    if key.is_empty() || key.ends_with('/') { format!("{key}{name}") } else { format!("{key}/{name}") };
                let s3 = S3::from_env()?;
                let (url, headers) = s3.request("PUT", bucket, &key, bytes)?;
                let client = http_client()?;
                block_on(async {
                    let mut request = client.put(&url).body(bytes.to_vec());
                    for (k, v) in headers {
                        request = request.header(k, v);
                    }
                    let response = request.send().await.map_err(|e| format!("s3://{bucket}/{key}: {e}"))?;
                    if !response.status().is_success() {
                        let status = response.status();
                        let body = response.text().await.unwrap_or_default();
                        return Err(format!(
                            "s3://{bucket}/{key}: {status}: {}",
                            body.chars().take(300).collect::<String>()
                        ));
                    }
                    Ok(format!("s3://{bucket}/{key}"))
                })?
            }
        }
    }
}

/// The HTTP client of jobs: system roots plus `AWS_CA_BUNDLE`, and time limits so a stalled endpoint fails
/// the job instead of hanging it.
fn http_client() -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(30))
        .timeout(std::time::Duration::from_secs(3_600));
    if let Some(bundle) = std::env::var_os("AWS_CA_BUNDLE").filter(|v| !v.is_empty()) {
        let pem = std::fs::read(&bundle).map_err(|e| format!("AWS_CA_BUNDLE {}: {e}", bundle.to_string_lossy()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("AWS_CA_BUNDLE {}: {e}", bundle.to_string_lossy()))?;
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder.build().map_err(|e| format!("starting an HTTP client: {e}"))
}

/// Runs a future to completion on a private runtime (jobs run on their own threads, not on the server's).
fn block_on<T>(future: impl std::future::Future<Output = T>) -> Result<T, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting an HTTP client: {e}"))?;
    Ok(runtime.block_on(future))
}

fn download(
    location: &Location,
    method: reqwest::Method,
    url: &str,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
) -> Result<LocalInput, String> {
    let path =
        std::env::temp_dir().join(format!("streamrec-fetch-{}-{:016x}", std::process::id(), rand::random::<u64>()));
    let local = LocalInput { path: path.clone(), temporary: true };
    let client = http_client()?;
    block_on(async {
        let mut request = client.request(method, url);
        for (k, v) in headers {
            request = request.header(k, v);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let mut response = request.send().await.map_err(|e| format!("{location}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{location}: the server answered {}", response.status()));
        }
        let mut file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("{location}: {e}"))? {
            file.write_all(&chunk).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(())
    })??;
    Ok(local)
}

/// An S3-compatible endpoint and credentials from the environment, as the AWS CLI reads them.
struct S3 {
    endpoint: String,
    region: String,
    access_key: String,
    secret_key: String,
    session_token: Option<String>,
}

impl S3 {
    fn from_env() -> Result<S3, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).unwrap_or_else(|| "us-east-1".into());
        let endpoint = var("AWS_ENDPOINT_URL_S3")
            .or_else(|| var("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let access_key = var("AWS_ACCESS_KEY_ID").ok_or("s3:// locations need AWS_ACCESS_KEY_ID in the environment")?;
        let secret_key =
            var("AWS_SECRET_ACCESS_KEY").ok_or("s3:// locations need AWS_SECRET_ACCESS_KEY in the environment")?;
        Ok(S3 {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            region,
            access_key,
            secret_key,
            session_token: var("AWS_SESSION_TOKEN"),
        })
    }

    /// The URL (path-style) and signed headers of a request for `bucket/key` with this body.
    fn request(
        &self,
        method: &str,
        bucket: &str,
        key: &str,
        body: &[u8],
    ) -> Result<(String, Vec<(String, String)>), String> {
        let encoded_key: String = key
            .split('/')
            .map(|segment| percent_encoding::utf8_percent_encode(segment, super::sigv4::URI_ENCODE_SET).to_string())
            .collect::<Vec<_>>()
            .join("/");
        let path = format!("/{bucket}/{encoded_key}");
        let url = format!("{}{path}", self.endpoint);
        let host = self
            .endpoint
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(&self.endpoint)
            .split('/')
            .next()
            .unwrap_or_default();
        // reqwest sends the Host header without a scheme's default port; the signature must match it.
        let host = match (self.endpoint.starts_with("https://"), host.rsplit_once(':')) {
            (true, Some((name, "443"))) | (false, Some((name, "80"))) => name.to_string(),
            _ => host.to_string(),
        };
        let now = crate::model::record::unix_now();
        let headers = super::sigv4::sign_request(&super::sigv4::Signing {
            method,
            host: &host,
            path: &path,
            query: "",
            body,
            access_key: &self.access_key,
            secret_key: &self.secret_key,
            session_token: self.session_token.as_deref(),
            region: &self.region,
            service: "s3",
            now_unix: now,
            s3: true,
        });
        Ok((url, headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_name_their_files() {
        assert_eq!(Location::parse("file:///tmp/a.csv").unwrap(), Location::File("/tmp/a.csv".into()));
        assert!(Location::parse("file://relative/a.csv").is_err());
        assert_eq!(
            Location::parse("s3://bucket/in/users.json").unwrap(),
            Location::S3 { bucket: "bucket".into(), key: "in/users.json".into() }
        );
        assert_eq!(Location::parse("s3://bucket/in/users.json").unwrap().file_name(), "users.json");
        assert_eq!(Location::parse("https://x.org/d/u.csv?sig=1").unwrap().file_name(), "u.csv");
        assert!(Location::parse("ftp://x").unwrap_err().contains("not a file://"));
        assert!(Location::parse("s3:///key").is_err());
    }

    #[test]
    fn file_outputs_are_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let out = Location::File(dir.path().join("out"));
        let written = out.write("x.out", b"line\n").unwrap();
        assert!(written.ends_with("/out/x.out"));
        assert_eq!(std::fs::read(dir.path().join("out/x.out")).unwrap(), b"line\n");
        assert!(Location::File(dir.path().join("missing.csv")).fetch().is_err());
    }
}
