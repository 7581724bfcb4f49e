//! A region-outage proxy in front of moto: every AWS request passes through it, is counted by the
//! region its SigV4 credential scope names (global services such as Route 53 and IAM sign for
//! us-east-1), and, once a region is down, gets a connection failure instead of an answer.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// The proxy; it stops serving when dropped (its listener thread ends with the test process).
pub struct RegionProxy {
    port: u16,
    seen: Arc<Mutex<Seen>>,
}

/// What the proxy saw and refused.
#[derive(Default)]
struct Seen {
    down: Option<String>,
    /// Requests by region since the region went down (all regions), `(service, region)` pairs.
    since_down: Vec<(String, String)>,
}

impl RegionProxy {
    /// Starts a proxy that forwards to `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> RegionProxy {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, seen) = (upstream.clone(), shared.clone());
                std::thread::spawn(move || serve(client, &upstream, &seen));
            }
        });
        RegionProxy { port, seen }
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// From now on, every request signed for `region` gets a connection failure.
    pub fn take_down(&self, region: &str) {
        let mut seen = self.seen.lock().unwrap();
        seen.down = Some(region.to_string());
        seen.since_down.clear();
    }

    /// The requests made since the region went down, as `service@region`, in order.
    pub fn requests_since_down(&self) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        seen.since_down
            .iter()
            .map(|(service, region)| format!("{service}@{region}"))
            .collect()
    }

    /// How many of them were signed for `region`.
    pub fn count_since_down(&self, region: &str) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.since_down.iter().filter(|(_, r)| r == region).count()
    }

    /// The requests since the region went down, counted by region.
    pub fn by_region(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for (_, region) in &self.seen.lock().unwrap().since_down {
            *out.entry(region.clone()).or_default() += 1;
        }
        out
    }
}

/// The `(service, region)` of a request's credential scope:
/// `Credential=AKID/DATE/REGION/SERVICE/aws4_request` in its `Authorization` header, or
/// `X-Amz-Credential=AKID%2FDATE%2FREGION%2FSERVICE%2Faws4_request` in a presigned URL.
fn scope(head: &str) -> Option<(String, String)> {
    let decoded = head.replace("%2F", "/").replace("%2f", "/");
    let at = decoded
        .find("Credential=")
        .map(|i| i + "Credential=".len())?;
    let mut parts = decoded[at..].split('/');
    let (_key, _date) = (parts.next()?, parts.next()?);
    let region = parts.next()?.to_string();
    let service = parts.next()?.to_string();
    Some((service, region))
}

/// One client connection: one request, forwarded with `Connection: close` (so the next request
/// comes on a new connection and is looked at too), or dropped when its region is down.
fn serve(client: TcpStream, upstream: &str, seen: &Mutex<Seen>) {
    let mut reader = BufReader::new(match client.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let end = line == "\r\n";
        if !line.to_ascii_lowercase().starts_with("connection:") {
            head.push_str(&line);
        }
        if end {
            break;
        }
    }
    let (service, region) = scope(&head).unwrap_or_else(|| ("unsigned".into(), "none".into()));
    {
        let mut s = seen.lock().unwrap();
        if s.down.is_some() {
            s.since_down.push((service, region.clone()));
        }
        if s.down.as_deref() == Some(region.as_str()) {
            drop(s);
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
    }
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    let head = head.trim_end_matches("\r\n").to_string() + "\r\nConnection: close\r\n\r\n";
    if server.write_all(head.as_bytes()).is_err() {
        return;
    }
    // The body (and whatever the reader buffered of it) goes on to the server.
    let buffered = reader.buffer().to_vec();
    let _ = server.write_all(&buffered);
    let mut to_server = server.try_clone().expect("clone the upstream socket");
    let mut rest = reader.into_inner();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut rest, &mut to_server);
    });
    let mut from_server = server;
    let mut to_client = client;
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from_server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to_client.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to_client.shutdown(Shutdown::Both);
}

#[test]
fn scope_names_the_signing_region_of_headers_and_presigned_urls() {
    let header = "POST / HTTP/1.1\r\nauthorization: AWS4-HMAC-SHA256 Credential=testing/20261206/eu-west-1/monitoring/aws4_request, SignedHeaders=host, Signature=ab\r\n\r\n";
    assert_eq!(
        scope(header),
        Some(("monitoring".into(), "eu-west-1".into()))
    );
    let presigned = "GET /?Action=GetCallerIdentity&X-Amz-Credential=testing%2F20261206%2Fus-east-1%2Fsts%2Faws4_request HTTP/1.1\r\n\r\n";
    assert_eq!(scope(presigned), Some(("sts".into(), "us-east-1".into())));
}
