//! The HTTP server: the native JSON API ([`native`], under `/v1`) and Amazon Personalize's wire protocol
//! ([`crate::personalize`]) on the same port.

pub mod native;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;

use crate::engine::Engine;

/// Shared state of every handler.
pub struct AppState {
    /// The engine of the (single, default) dataset group.
    pub engine: Engine,
    /// The als recipe's model, retrained in the background.
    pub als: Arc<crate::recipes::als_service::AlsService>,
    /// The Personalize-compatible API's dataset groups, campaigns and jobs.
    pub personalize: Arc<crate::personalize::Personalize>,
}

/// Builds the router.
pub fn router(state: Arc<AppState>) -> axum::Router {
    let personalize = crate::personalize::routes(state.personalize.clone());
    native::routes().with_state(state).merge(personalize)
}

/// Serves until Ctrl-C / SIGTERM, then shuts the engine down cleanly.
pub async fn serve(
    state: Arc<AppState>,
    listen: SocketAddr,
    ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    // Printed on stdout so scripts and tests can find an ephemeral port (`--listen 127.0.0.1:0`).
    println!("listening on http://{addr}");
    if let Some(ready) = ready {
        let _ = ready.send(addr);
    }
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown_signal()).await.context("HTTP server")?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}
