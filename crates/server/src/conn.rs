//! Accepted connections, with hyper's own error answers given a JSON body.
//!
//! hyper answers a request it cannot parse before axum ever sees it: a URL
//! over 64 KiB (414; `MAX_URI_LEN` is a constant in hyper), a malformed
//! request line (400), oversized headers (431). It writes the head alone,
//! `connection: close` and `content-length: 0`, then closes. Clients are
//! promised the JSON error shape for every status, so the stream hyper
//! writes to recognises exactly that head and writes it again with a body.
//!
//! Nothing the application answers can look like it: every error response
//! of ours carries a JSON body, so its `content-length` is never 0.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A listener whose connections give hyper's bodiless error answers a body.
pub struct Listener(pub TcpListener);

impl axum::serve::Listener for Listener {
    type Io = Stream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Stream, SocketAddr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (Stream::new(io), addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// A TCP stream that rewrites hyper's own error heads (see the module docs).
pub struct Stream {
    inner: TcpStream,
    /// A rewritten answer being written: its bytes, how many are out, and
    /// the length of the head hyper handed over (reported once all are out).
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl Stream {
    fn new(inner: TcpStream) -> Self {
        Stream {
            inner,
            pending: None,
        }
    }

    /// Responses are small and written whole: Nagle's algorithm would only
    /// delay them.
    pub fn set_nodelay(&mut self) {
        if let Err(e) = self.inner.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    }

    /// Writes the rewritten answer out; `Ready(n)` reports hyper's head as
    /// written once every byte of it is.
    fn drive_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        while let Some((bytes, done, _)) = self.pending.as_mut() {
            if *done == bytes.len() {
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*done..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *done += n;
        }
        let (_, _, reported) = self.pending.take().unwrap_or_default();
        Poll::Ready(Ok(reported))
    }
}

/// hyper's answer to a request it could not parse, with a body: `None` for
/// anything else.
fn with_body(head: &[u8]) -> Option<Vec<u8>> {
    let status = head.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
    let (error, message) = match status {
        b"414" => (
            "uri_too_long",
            "The URL is longer than 65,534 bytes: send the parameters in a POST body.",
        ),
        b"431" => (
            "request_header_fields_too_large",
            "The request's headers are too large.",
        ),
        b"400" => ("bad_request", "The request could not be read as HTTP/1.1."),
        _ => return None,
    };
    let text = std::str::from_utf8(head).ok()?;
    let lines = text.strip_suffix("\r\n\r\n")?;
    if !lines.contains("\r\ncontent-length: 0\r\n") && !lines.ends_with("\r\ncontent-length: 0")
        || !lines.contains("\r\nconnection: close")
    {
        return None;
    }
    let body = serde_json::json!({ "error": error, "message": message }).to_string();
    let mut out = String::with_capacity(head.len() + body.len() + 64);
    for line in lines.split("\r\n") {
        if line == "content-length: 0" {
            out.push_str(&format!("content-length: {}\r\n", body.len()));
            out.push_str("content-type: application/json; charset=utf-8\r\n");
        } else {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    out.push_str(&body);
    Some(out.into_bytes())
}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.pending.is_none() {
            match with_body(buf) {
                Some(bytes) => self.pending = Some((bytes, 0, buf.len())),
                None => return Pin::new(&mut self.inner).poll_write(cx, buf),
            }
        }
        self.drive_pending(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // hyper queues a bodiless head as a single buffer.
        let mut nonempty = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (nonempty.next(), nonempty.next())
            && (self.pending.is_some() || with_body(only).is_some())
        {
            return self.poll_write(cx, only);
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::with_body;

    #[test]
    fn only_hypers_bodiless_error_heads_are_rewritten() {
        let head = b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 13:02:59 GMT\r\n\r\n";
        let out = String::from_utf8(with_body(head).unwrap()).unwrap();
        let (h, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(h.starts_with("HTTP/1.1 414 URI Too Long\r\n"));
        assert!(h.contains(&format!("content-length: {}", body.len())));
        assert!(h.contains("content-type: application/json"));
        assert!(h.contains("date: Tue"));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"], "uri_too_long");

        // An application answer (it has a body) and other statuses pass.
        assert!(with_body(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 51\r\n\r\n{}").is_none());
        assert!(
            with_body(b"HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")
                .is_none()
        );
        assert!(with_body(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").is_none());
    }
}
