//! `GET /api/events`: the session's tenant's board as server-sent events, one `board` event
//! each time the feed publishes a changed board (no polling). Each event is
//! `{"now": <server ms>, "board": <board>}`: the page counts waits and times in state from
//! `now`. The stream ends when the session does.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::watch;

use crate::auth::Session;
use crate::feed::{now_ms, subscribe, Published};
use crate::App;

struct Viewer {
    app: Arc<App>,
    headers: HeaderMap,
    boards: watch::Receiver<Published>,
    first: bool,
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.app.metrics.streams.dec();
    }
}

/// The event stream of a signed-in viewer.
pub fn events(
    app: Arc<App>,
    session: &Session,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    app.metrics.streams.inc();
    let viewer = Viewer {
        boards: subscribe(&app, &session.tenant),
        app,
        headers,
        first: true,
    };
    let stream = futures::stream::unfold(viewer, |mut viewer| async move {
        let board = next_board(&mut viewer).await?;
        // A session that ended (signed out, expired, token withdrawn) gets no more boards.
        viewer.app.auth.session(&viewer.headers)?;
        let data = format!("{{\"now\":{},\"board\":{board}}}", now_ms());
        Some((Ok(Event::default().event("board").data(data)), viewer))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
}

/// The current board the first time, then each changed one; `None` once the server stops.
async fn next_board(viewer: &mut Viewer) -> Option<Arc<str>> {
    if std::mem::take(&mut viewer.first) {
        if let Some(board) = viewer.boards.borrow_and_update().clone() {
            return Some(board);
        }
    }
    loop {
        tokio::select! {
            changed = viewer.boards.changed() => changed.ok()?,
            _ = viewer.app.shutdown.cancelled() => return None,
        }
        if let Some(board) = viewer.boards.borrow_and_update().clone() {
            return Some(board);
        }
    }
}
