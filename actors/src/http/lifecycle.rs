//! The rest of a post's life: `DELETE /users/{author}/photos/{photo}` (202 with the delete
//! job's status URL, like `POST /photos`), and, beside it, follows and unfollows. Each
//! needs a write token when `http.write_token` is set.

use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::answer::{error, AppState};
use super::photos::{accepted, refusal};
use crate::error::FollowError;
use crate::messages::{FollowChange, Followed, PhotoDeleted, Unfollowed};

/// A path segment that must be a positive integer id, or the 400 naming it.
pub(super) fn path_id(raw: &str, field: &'static str) -> Result<u64, Box<HttpResponse>> {
    raw.parse::<u64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            &format!("{field} must be a positive integer, got '{raw}'"),
            Some(field),
        ))
    })
}

/// `DELETE /users/{author}/photos/{photo}`: accepts the deletion as a job and answers 202
/// at once; a repeated delete answers with the same job. 404 when the author never posted
/// the photo, 409 when another author did.
pub(super) async fn delete_photo(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
) -> HttpResponse {
    let (author, photo) = match (path_id(&path.0, "author"), path_id(&path.1, "photo")) {
        (Ok(author), Ok(photo)) => (author, photo),
        (Err(bad), _) | (_, Err(bad)) => return *bad,
    };
    match state.fanout.delete(PhotoDeleted::new(author, photo)).await {
        Ok(done) => accepted(status_url(request.path(), done.fanout_id.0), &done),
        Err(e) => refusal(e),
    }
}

/// `PUT /users/{follower}/following/{author}`: 200 once done (`changed: false` for a
/// repeat); 400 for following oneself.
pub(super) async fn follow(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    follow_or_unfollow(state, path, true).await
}

/// `DELETE /users/{follower}/following/{author}`: 200 once done (`changed: false` when
/// the follower did not follow the author).
pub(super) async fn unfollow(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    follow_or_unfollow(state, path, false).await
}

async fn follow_or_unfollow(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    follow: bool,
) -> HttpResponse {
    let (follower, author) = match ids(&path) {
        Ok(ids) => ids,
        Err(bad) => return *bad,
    };
    let change = if follow {
        state.fanout.follow(Followed::new(follower, author)).await
    } else {
        state
            .fanout
            .unfollow(Unfollowed::new(follower, author))
            .await
    };
    answer(follower, author, change)
}

fn ids(path: &(String, String)) -> Result<(u64, u64), Box<HttpResponse>> {
    Ok((path_id(&path.0, "follower")?, path_id(&path.1, "author")?))
}

fn answer(follower: u64, author: u64, change: Result<FollowChange, FollowError>) -> HttpResponse {
    match change {
        Ok(change) => HttpResponse::Ok().json(serde_json::json!({
            "follower": follower,
            "author": author,
            "changed": change.changed,
            "photos": change.photos,
        })),
        Err(e @ FollowError::SelfFollow { .. }) => {
            error(StatusCode::BAD_REQUEST, &e.to_string(), Some("author"))
        }
        Err(e @ FollowError::Busy { .. }) => {
            let mut response = error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None);
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        Err(e @ (FollowError::Unavailable(_) | FollowError::Stopped)) => {
            error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None)
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string(), None),
    }
}

/// `/fanouts/{id}` beside the `/users/...` that was called (a host may mount the routes
/// under a scope of its own).
fn status_url(path: &str, id: u64) -> String {
    let base = path.find("users/").map_or("/", |at| &path[..at]);
    format!("{base}fanouts/{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_url_follows_the_mount_point() {
        assert_eq!(status_url("/users/3/photos/7", 9), "/fanouts/9");
        assert_eq!(status_url("/api/users/3/photos/7", 9), "/api/fanouts/9");
    }

    #[test]
    fn ids_must_be_positive_integers() {
        assert_eq!(path_id("343", "author").ok(), Some(343));
        assert!(path_id("0", "author").is_err());
        assert!(path_id("-1", "photo").is_err());
        assert!(path_id("x", "photo").is_err());
    }
}
