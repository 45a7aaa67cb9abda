//! A TCP proxy that can hold back a server's answers: put between artifactapi and a service it
//! depends on (the S3 server), it forwards both ways until [`StallProxy::stall`] is on, then
//! holds every byte the service sends (on open connections and new ones) until it is off
//! again. The service itself stays up: this is a slow dependency, not a dead one.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running proxy; stops accepting on drop (open connections end with their peers).
#[derive(Debug)]
pub struct StallProxy {
    pub port: u16,
    stalled: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
}

impl StallProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `target`.
    pub async fn start(target: SocketAddr) -> StallProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let (stalled, rx) = watch::channel(false);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, target, rx.clone()));
            }
        });
        StallProxy { port, stalled, accept }
    }

    /// Holds (`true`) or releases (`false`) the service's answers.
    pub fn stall(&self, on: bool) {
        self.stalled.send_replace(on);
    }
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// One connection: requests go through at once, answers wait while stalled.
async fn relay(client: TcpStream, target: SocketAddr, mut stalled: watch::Receiver<bool>) {
    let Ok(server) = TcpStream::connect(target).await else { return };
    let (mut client_r, mut client_w) = client.into_split();
    let (mut server_r, mut server_w) = server.into_split();
    let up = async move {
        let _ = tokio::io::copy(&mut client_r, &mut server_w).await;
        let _ = server_w.shutdown().await;
    };
    let down = async move {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match server_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if stalled.wait_for(|s| !*s).await.is_err() {
                break;
            }
            if client_w.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_w.shutdown().await;
    };
    tokio::join!(up, down);
}
