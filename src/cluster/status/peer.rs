//! One node's docker API over mutual TLS: TCP, then rustls with the node's own name as the
//! verification name, then HTTP/1.1 GETs whose answers are bounded: a head of at most
//! `MAX_HEAD` bytes, a body of at most `MAX_BODY`, each call within its time.

use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde::de::DeserializeOwned;

use super::failure::{classify, timeout, Failure, FailureKind};
use super::targets::Target;
use super::text::{clean, MAX_CHARS};
use super::tls::ClientTls;

/// The largest response head (status line and headers) read from a node.
pub const MAX_HEAD: usize = 64 * 1024;
/// The largest response body read from a node: `/nodes` of a large swarm fits easily.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

pub struct Connection {
    sender: SendRequest<Empty<Bytes>>,
    /// The `Host` header: where we connected.
    host: String,
    /// The node's name, for TLS failures found late.
    name: String,
}

pub async fn connect(target: &Target, tls: &ClientTls, t: Duration) -> Result<Connection, Failure> {
    let name = target.name.as_str();
    let tcp = match tokio::time::timeout(t, tokio::net::TcpStream::connect(&target.endpoint)).await
    {
        Err(_) => return Err(timeout("connecting", t)),
        Ok(Err(e)) => {
            let mut f = classify(&e, name);
            // A name that does not resolve is not a refused connection.
            if f.kind == FailureKind::Io && e.to_string().contains("lookup") {
                let host = target.endpoint.rsplit_once(':').map_or("", |(h, _)| h);
                f.kind = FailureKind::Resolve;
                f.message = format!("cannot resolve {host}: {e}");
            }
            return Err(f);
        }
        Ok(Ok(s)) => s,
    };
    let _ = tcp.set_nodelay(true);
    let server_name = ServerName::try_from(name.to_string()).map_err(|e| {
        Failure::new(
            FailureKind::Tls,
            format!("{name} cannot be a TLS name: {e}"),
        )
    })?;
    let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
    let stream = match tokio::time::timeout(t, connector.connect(server_name, tcp)).await {
        Err(_) => return Err(timeout("in the TLS handshake", t)),
        Ok(Err(e)) => return Err(classify(&e, name)),
        Ok(Ok(s)) => s,
    };
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(MAX_HEAD)
        .handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|e| classify(&e, name))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(Connection {
        sender,
        host: target.endpoint.clone(),
        name: name.to_string(),
    })
}

impl Connection {
    /// `GET path`, its JSON answer read within `t` and at most `MAX_BODY` bytes.
    pub async fn get_json<T: DeserializeOwned>(
        &mut self,
        path: &str,
        t: Duration,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(t, self.get(path)).await {
            Err(_) => Err(timeout(&format!("waiting for GET {path}"), t)),
            Ok(Err(f)) => Err(f),
            Ok(Ok(body)) => serde_json::from_slice(&body).map_err(|e| {
                Failure::new(
                    FailureKind::Api,
                    format!(
                        "GET {path}: not a docker reply: {}",
                        clean(&e.to_string(), MAX_CHARS)
                    ),
                )
            }),
        }
    }

    async fn get(&mut self, path: &str) -> Result<Bytes, Failure> {
        let req = hyper::Request::get(path)
            .header(hyper::header::HOST, self.host.as_str())
            .body(Empty::<Bytes>::new())
            .expect("a path and a host:port make a valid request");
        let name = self.name.clone();
        let sent = async {
            self.sender.ready().await?;
            self.sender.send_request(req).await
        };
        let res = sent.await.map_err(|e| {
            let mut f = classify(&e, &name);
            // With TLS 1.3 a refused client certificate shows only after the handshake; a
            // daemon that closes without sending its alert looks like this.
            if f.kind == FailureKind::Io {
                f.message.push_str(
                    " right after the TLS handshake (did the node refuse our client certificate?)",
                );
            }
            f
        })?;
        let status = res.status();
        let body = match Limited::new(res.into_body(), MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(Failure::new(
                    FailureKind::Api,
                    format!(
                        "GET {path}: the answer is larger than {} MiB; not a docker daemon?",
                        MAX_BODY >> 20
                    ),
                ))
            }
            Err(e) => return Err(classify(e.as_ref(), &name)),
        };
        if !status.is_success() {
            return Err(Failure::new(
                FailureKind::Api,
                format!("GET {path} answered {status}: {}", error_text(&body)),
            ));
        }
        Ok(body)
    }
}

/// Docker's `{"message": …}`, else the body as text; cleaned and cut.
fn error_text(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct DockerError {
        message: String,
    }
    let text = match serde_json::from_slice::<DockerError>(body) {
        Ok(e) => e.message,
        Err(_) => String::from_utf8_lossy(body).trim().to_string(),
    };
    clean(&text, MAX_CHARS)
}
