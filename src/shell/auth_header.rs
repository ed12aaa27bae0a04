//! The upgrade request's `Authorization` header, added below tungstenite.
//!
//! tungstenite logs every client upgrade request it writes, headers and
//! all, at `trace` level through the `log` crate: a bearer token in that
//! request would reach any application that forwards `log` records. So
//! the request tungstenite builds carries no `Authorization`; this stream
//! wrapper inserts the header line into the bytes on their way to the
//! socket, right after the request line, and is a plain pass-through
//! afterwards. The token never exists as a string tungstenite sees.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use smol::io::{AsyncRead, AsyncWrite};

use super::runtime::BoxIo;

/// A byte stream that adds `Authorization: Bearer …` to the first HTTP
/// request written through it.
pub(crate) struct WithAuthorization {
    inner: BoxIo,
    /// The header line (with its CRLF), until it is placed.
    header: Option<Vec<u8>>,
    /// Bytes taken from the writer but not yet written to `inner`; they go
    /// out before anything else is read or written.
    owed: Vec<u8>,
}

impl WithAuthorization {
    /// Wraps `inner`; the first request written through it carries the
    /// `Authorization` value `bearer`
    /// ([`Token::bearer_header_value`](crate::token::Token::bearer_header_value)).
    pub(crate) fn new(inner: BoxIo, bearer: &str) -> Self {
        let header = format!("Authorization: {bearer}\r\n").into_bytes();
        Self {
            inner,
            header: Some(header),
            owed: Vec::new(),
        }
    }

    /// Writes what is owed to the socket.
    fn poll_owed(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.owed.is_empty() {
            match ready!(Pin::new(&mut self.inner).poll_write(cx, &self.owed)) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    self.owed.drain(..n);
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        if self.owed.capacity() > 0 {
            self.owed = Vec::new();
        }
        Poll::Ready(Ok(()))
    }
}

/// Where `header` goes in `request`: after its request line (the first
/// CRLF), if `request` holds one.
fn insert_after_request_line(request: &[u8], header: &[u8]) -> Option<Vec<u8>> {
    let end = request.windows(2).position(|pair| pair == b"\r\n")? + 2;
    let mut out = Vec::with_capacity(request.len() + header.len());
    out.extend_from_slice(&request[..end]);
    out.extend_from_slice(header);
    out.extend_from_slice(&request[end..]);
    Some(out)
}

impl AsyncWrite for WithAuthorization {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_owed(cx))?;
        if let Some(header) = this.header.take() {
            match insert_after_request_line(buf, &header) {
                Some(request) => {
                    // The caller's bytes are taken whole: they go out (with
                    // the header) before anything else.
                    this.owed = request;
                    if let Poll::Ready(Err(e)) = this.poll_owed(cx) {
                        return Poll::Ready(Err(e));
                    }
                    return Poll::Ready(Ok(buf.len()));
                }
                None => this.header = Some(header),
            }
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_owed(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_owed(cx))?;
        Pin::new(&mut this.inner).poll_close(cx)
    }
}

impl AsyncRead for WithAuthorization {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // The request must be out before its answer can come.
        if let Poll::Ready(Err(e)) = this.poll_owed(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_goes_right_after_the_request_line() {
        let request = b"GET /relay HTTP/1.1\r\nHost: a\r\n\r\n";
        let out = insert_after_request_line(request, b"Authorization: Bearer x\r\n");
        assert_eq!(
            out.as_deref(),
            Some(&b"GET /relay HTTP/1.1\r\nAuthorization: Bearer x\r\nHost: a\r\n\r\n"[..])
        );
    }

    #[test]
    fn bytes_without_a_request_line_get_no_header() {
        assert_eq!(
            insert_after_request_line(b"GET /relay HTTP", b"X\r\n"),
            None
        );
    }

    #[test]
    fn the_request_and_its_header_go_out_whole_before_anything_is_read() {
        smol::block_on(async {
            let listener = smol::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = smol::spawn(async move {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut got = Vec::new();
                let mut chunk = [0u8; 256];
                while !got.ends_with(b"\r\n\r\n") {
                    let n = smol::io::AsyncReadExt::read(&mut socket, &mut chunk)
                        .await
                        .unwrap();
                    assert!(n > 0, "the request ended early: {got:?}");
                    got.extend_from_slice(&chunk[..n]);
                }
                smol::io::AsyncWriteExt::write_all(&mut socket, b"ok")
                    .await
                    .unwrap();
                got
            });
            let tcp = smol::net::TcpStream::connect(addr).await.unwrap();
            let token =
                crate::token::mint_token("gw", &crate::token::Secret::new("s"), 1_700_000_000, 300);
            let mut stream = WithAuthorization::new(Box::new(tcp), &token.bearer_header_value());
            let request = b"GET /relay HTTP/1.1\r\nHost: a\r\n\r\n";
            let n = smol::io::AsyncWriteExt::write(&mut stream, request)
                .await
                .unwrap();
            assert_eq!(n, request.len(), "the caller's bytes are taken whole");
            // No flush: reading the answer sends what is owed first.
            let mut answer = [0u8; 2];
            smol::io::AsyncReadExt::read_exact(&mut stream, &mut answer)
                .await
                .unwrap();
            assert_eq!(&answer, b"ok");
            let got = String::from_utf8(server.await).unwrap();
            let expected = format!(
                "GET /relay HTTP/1.1\r\nAuthorization: {}\r\nHost: a\r\n\r\n",
                token.bearer_header_value()
            );
            assert_eq!(got, expected);
        });
    }
}
