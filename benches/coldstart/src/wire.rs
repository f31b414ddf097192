//! Just enough HTTP/1.1 for the emulator's two loopback servers: read one request (with a
//! `Content-Length` or chunked body) from a kept-alive connection, write one response, and a
//! thread-per-connection accept loop, in plain text or over TLS, that stops when its handle is
//! dropped.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Bounds on what a request may carry. The body bound is Lambda's own 6 MB payload limit; a
/// request past either bound is a bug in the binary under test and fails its run.
const HEADERS_MAX: usize = 100;
const BODY_BYTES_MAX: usize = 6 * 1024 * 1024;

/// A connection the handler answers on: a TCP stream, or a TLS stream over one.
pub trait Conn: Read + Write {}

impl<T: Read + Write> Conn for T {}

/// One parsed request.
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first header named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn malformed(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn read_line(reader: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
}

/// Reads the next request of a connection; `None` when the peer closed it between requests.
///
/// # Errors
/// When the connection fails or the request is malformed or over the bounds above.
pub fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let Some(start) = read_line(reader)? else { return Ok(None) };
    let mut parts = start.split(' ');
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(malformed(format!("bad request line {start:?}")));
    };
    let (method, path) = (method.to_owned(), path.to_owned());
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?.ok_or_else(|| malformed("connection closed inside the headers"))?;
        if line.is_empty() {
            break;
        }
        if headers.len() == HEADERS_MAX {
            return Err(malformed("too many headers"));
        }
        let (name, value) = line.split_once(':').ok_or_else(|| malformed(format!("bad header {line:?}")))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let mut request = Request { method, path, headers, body: Vec::new() };
    if request.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        request.body = read_chunked(reader)?;
    } else if let Some(length) = request.header("content-length") {
        let length: usize = length.parse().map_err(|_| malformed(format!("bad content-length {length:?}")))?;
        if length > BODY_BYTES_MAX {
            return Err(malformed(format!("body of {length} bytes")));
        }
        request.body = vec![0; length];
        reader.read_exact(&mut request.body)?;
    }
    Ok(Some(request))
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?.ok_or_else(|| malformed("connection closed inside a chunk size"))?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| malformed(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            // Trailers, if any, end with an empty line like the headers do.
            while read_line(reader)?.is_some_and(|l| !l.is_empty()) {}
            return Ok(body);
        }
        if body.len().saturating_add(size) > BODY_BYTES_MAX {
            return Err(malformed("chunked body over the bound"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
    }
}

/// Writes one response with a `Content-Length`, leaving the connection open for the next request.
///
/// # Errors
/// When the connection fails.
pub fn write_response(
    stream: &mut (impl Write + ?Sized),
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\ncontent-length: {}\r\n", reason(status), body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        404 => "Not Found",
        _ => "Status",
    }
}

/// A loopback server: each connection on its own thread (and its own TLS session when the server
/// has a TLS configuration), serving requests with `handle` until the peer closes it or `handle`
/// returns `false`.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Listens on a free loopback port.
    ///
    /// # Errors
    /// When no port can be bound.
    pub fn start<H>(handle: H) -> io::Result<Self>
    where
        H: Fn(Request, &mut dyn Conn) -> io::Result<bool> + Send + Sync + 'static,
    {
        Self::listen(None, handle)
    }

    /// Listens on a free loopback port and speaks TLS with `tls` on every connection.
    ///
    /// # Errors
    /// When no port can be bound.
    pub fn start_tls<H>(tls: Arc<rustls::ServerConfig>, handle: H) -> io::Result<Self>
    where
        H: Fn(Request, &mut dyn Conn) -> io::Result<bool> + Send + Sync + 'static,
    {
        Self::listen(Some(tls), handle)
    }

    fn listen<H>(tls: Option<Arc<rustls::ServerConfig>>, handle: H) -> io::Result<Self>
    where
        H: Fn(Request, &mut dyn Conn) -> io::Result<bool> + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let handle = Arc::new(handle);
        let stopping = Arc::clone(&stop);
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (handle, tls) = (Arc::clone(&handle), tls.clone());
                std::thread::spawn(move || accept_one(stream, tls, handle.as_ref()));
            }
        });
        Ok(Self { addr, stop, accept: Some(accept) })
    }

    /// The `host:port` the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

fn accept_one<H>(stream: TcpStream, tls: Option<Arc<rustls::ServerConfig>>, handle: &H)
where
    H: Fn(Request, &mut dyn Conn) -> io::Result<bool>,
{
    // Small writes matter here: a runtime waiting on Nagle's delay would show up as start time.
    let _ = stream.set_nodelay(true);
    let Some(config) = tls else { return serve(stream, handle) };
    // The handshake runs on the first read, inside `serve`.
    if let Ok(session) = rustls::ServerConnection::new(config) {
        serve(rustls::StreamOwned::new(session, stream), handle);
    }
}

fn serve<S, H>(stream: S, handle: &H)
where
    S: Read + Write,
    H: Fn(Request, &mut dyn Conn) -> io::Result<bool>,
{
    let mut reader = BufReader::new(stream);
    while let Ok(Some(request)) = read_request(&mut reader) {
        match handle(request, reader.get_mut()) {
            Ok(true) => {}
            Ok(false) | Err(_) => return,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // The accept loop blocks in `accept`: one connection wakes it to see the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_content_length_body_and_the_next_request_are_read_apart() {
        let raw = b"POST /a HTTP/1.1\r\nContent-Length: 3\r\nX-Amz-Target: Svc.Op\r\n\r\nabcGET /b HTTP/1.1\r\n\r\n";
        let mut reader = BufReader::new(&raw[..]);
        let first = read_request(&mut reader).expect("read").expect("a request");
        assert_eq!((first.method.as_str(), first.path.as_str(), &first.body[..]), ("POST", "/a", &b"abc"[..]));
        assert_eq!(first.header("x-amz-target"), Some("Svc.Op"));
        let second = read_request(&mut reader).expect("read").expect("a request");
        assert_eq!((second.method.as_str(), second.body.len()), ("GET", 0));
        assert!(read_request(&mut reader).expect("read").is_none(), "end of stream is no request");
    }

    #[test]
    fn a_chunked_body_is_reassembled() {
        let raw = b"POST /r HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        let request = read_request(&mut BufReader::new(&raw[..])).expect("read").expect("a request");
        assert_eq!(request.body, b"{\"a\":1}");
    }

    #[test]
    fn a_truncated_request_is_an_error() {
        let raw = b"POST /r HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc";
        assert!(read_request(&mut BufReader::new(&raw[..])).is_err());
    }
}
