//! Serving a simulator on a free port of 127.0.0.1.

use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A simulator listening on 127.0.0.1. Shuts down on drop or with [`RunningServer::shutdown`].
#[derive(Debug)]
pub struct RunningServer {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub base_url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.base_url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    /// Stops accepting connections and waits (briefly) for the server to finish. Requests
    /// still hanging (the timeout switch) are abandoned.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(1), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    /// Runs until the server stops (for binaries).
    pub async fn wait(mut self) -> std::io::Result<()> {
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other).and_then(|r| r),
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Serves the router on 127.0.0.1 and a free port.
pub async fn serve(router: axum::Router) -> std::io::Result<RunningServer> {
    serve_on(router, 0).await
}

/// Serves the router on 127.0.0.1 and the given port (0 = a free one).
pub async fn serve_on(router: axum::Router, port: u16) -> std::io::Result<RunningServer> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    Ok(RunningServer {
        base_url: format!("http://{addr}"),
        stop: Some(stop),
        task: Some(task),
    })
}
