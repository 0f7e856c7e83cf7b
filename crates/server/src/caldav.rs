//! The outbound side of connected calendars: a small CalDAV client
//! (RFC 4791, discovery per RFC 6764) and ICS feed fetching, over reqwest.
//!
//! Every URL it is given or redirected to passes the same address policy as
//! callbacks (`notifications::check_url` on its shape and literal host, then
//! every address its host resolves to, with the connection pinned to the
//! addresses checked), so a connected calendar cannot make Convene reach
//! what a webhook could not, even through a DNS name.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};

use crate::notifications::{CallbackPolicy, check_url, http_client, resolved_client};

const DAV: &str = "DAV:";
const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
const CS: &str = "http://calendarserver.org/ns/";
/// The largest answer read from a server (an ICS feed, a multistatus).
const MAX_BODY: usize = 32 << 20;

/// Why a server could not be used; the text is for the person connecting.
#[derive(Debug, thiserror::Error)]
pub enum DavError {
    #[error("the server refused the username or password")]
    Unauthorized,
    #[error("the server could not be reached: {0}")]
    Unreachable(String),
    #[error("{0}")]
    Refused(String),
    #[error("the server answered {0} for {1}")]
    Status(u16, String),
    #[error("no calendars were found at this address")]
    NoCalendars,
    #[error("the server's answer could not be read: {0}")]
    Malformed(String),
}

/// A calendar collection found on a server.
#[derive(Clone, Debug)]
pub struct RemoteCalendar {
    pub href: String,
    pub name: String,
    pub readonly: bool,
    /// What tells whether anything changed: `sync-token`, else `getctag`.
    pub ctag: Option<String>,
}

/// A CalDAV account: its server, credentials and the address policy.
#[derive(Clone)]
pub struct Dav {
    http: reqwest::Client,
    state: crate::AppState,
    /// The client pinned to the checked addresses of the last host asked:
    /// one lookup per host for a whole sync, and a second lookup cannot
    /// answer differently.
    pinned: std::sync::Arc<std::sync::Mutex<Option<(String, reqwest::Client)>>>,
    policy: CallbackPolicy,
    user: String,
    pass: String,
}

impl std::fmt::Debug for Dav {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dav")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

fn xml_body(props: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:cs="http://calendarserver.org/ns/"><d:prop>{props}</d:prop></d:propfind>"#
    )
}

/// One `<response>` of a multistatus: its href and the properties that
/// came back 200, as (namespace, local name) → the element's XML node id.
struct Resp {
    href: String,
    status_ok: bool,
    props: Vec<Prop>,
}

struct Prop {
    ns: String,
    name: String,
    text: String,
    /// Child element names (namespace, local name), for resourcetype and
    /// privilege sets.
    children: Vec<(String, String)>,
    /// Text of `<href>` descendants, for principal and home-set values.
    hrefs: Vec<String>,
}

impl Resp {
    fn prop(&self, ns: &str, name: &str) -> Option<&Prop> {
        self.props.iter().find(|p| p.ns == ns && p.name == name)
    }
}

fn parse_multistatus(text: &str) -> Result<Vec<Resp>, DavError> {
    let doc = roxmltree::Document::parse(text).map_err(|e| DavError::Malformed(e.to_string()))?;
    let is = |n: &roxmltree::Node, name: &str| {
        n.is_element() && n.tag_name().namespace() == Some(DAV) && n.tag_name().name() == name
    };
    let mut out = Vec::new();
    for r in doc.descendants().filter(|n| is(n, "response")) {
        let href = r
            .children()
            .find(|n| is(n, "href"))
            .and_then(|n| n.text())
            .unwrap_or_default()
            .trim()
            .to_string();
        let mut props = Vec::new();
        let mut any_ok = false;
        let own_status = r
            .children()
            .find(|n| is(n, "status"))
            .and_then(|n| n.text())
            .unwrap_or("");
        for ps in r.children().filter(|n| is(n, "propstat")) {
            let status = ps
                .children()
                .find(|n| is(n, "status"))
                .and_then(|n| n.text())
                .unwrap_or("");
            if !status.contains(" 200") {
                continue;
            }
            any_ok = true;
            for prop in ps.children().filter(|n| is(n, "prop")) {
                for p in prop.children().filter(|n| n.is_element()) {
                    props.push(Prop {
                        ns: p.tag_name().namespace().unwrap_or("").to_string(),
                        name: p.tag_name().name().to_string(),
                        text: p
                            .descendants()
                            .filter(|n| n.is_text())
                            .filter_map(|n| n.text())
                            .collect::<String>()
                            .trim()
                            .to_string(),
                        children: p
                            .descendants()
                            .filter(|n| n.is_element() && *n != p)
                            .map(|n| {
                                (
                                    n.tag_name().namespace().unwrap_or("").to_string(),
                                    n.tag_name().name().to_string(),
                                )
                            })
                            .collect(),
                        hrefs: p
                            .descendants()
                            .filter(|n| is(n, "href"))
                            .filter_map(|n| n.text())
                            .map(|t| t.trim().to_string())
                            .collect(),
                    });
                }
            }
        }
        out.push(Resp {
            href,
            status_ok: any_ok || own_status.is_empty() || own_status.contains(" 200"),
            props,
        });
    }
    Ok(out)
}

impl Dav {
    pub fn new(state: &crate::AppState, user: &str, pass: &str) -> Self {
        Dav {
            http: http_client(state),
            state: state.clone(),
            pinned: Default::default(),
            policy: state.cfg.callback_policy,
            user: user.to_string(),
            pass: pass.to_string(),
        }
    }

    fn check(&self, url: &str) -> Result<Url, DavError> {
        check_url(url, self.policy)
            .map_err(|e| DavError::Refused(e.replace("callback_url", "the address")))
    }

    /// The client for `url`: its host's addresses checked against the
    /// policy, and the connection pinned to them.
    async fn client_for(&self, url: &Url) -> Result<reqwest::Client, DavError> {
        let host = url.host_str().unwrap_or("").to_string();
        if let Some((h, c)) = self.pinned.lock().expect("not poisoned").as_ref()
            && *h == host
        {
            return Ok(c.clone());
        }
        match resolved_client(&self.state, url).await {
            Ok(None) => Ok(self.http.clone()),
            Ok(Some(c)) => {
                *self.pinned.lock().expect("not poisoned") = Some((host, c.clone()));
                Ok(c)
            }
            Err(e) if e.starts_with("cannot resolve") => Err(DavError::Unreachable(e)),
            Err(e) => Err(DavError::Refused(e)),
        }
    }

    async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Result<(StatusCode, reqwest::header::HeaderMap, String, Url), DavError> {
        self.send_within(method, url, headers, body, Duration::from_secs(30))
            .await
    }

    /// Sends one request, following up to five redirects (each re-checked),
    /// each hop bounded by `limit`.
    async fn send_within(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
        limit: Duration,
    ) -> Result<(StatusCode, reqwest::header::HeaderMap, String, Url), DavError> {
        let mut url = self.check(url)?;
        for _ in 0..5 {
            let http = self.client_for(&url).await?;
            let mut req = http
                .request(
                    Method::from_bytes(method.as_bytes()).expect("a valid method"),
                    url.clone(),
                )
                .timeout(limit);
            if !self.user.is_empty() || !self.pass.is_empty() {
                req = req.basic_auth(&self.user, Some(&self.pass));
            }
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some(b) = &body {
                req = req
                    .header(
                        "content-type",
                        if b.starts_with("BEGIN:") {
                            "text/calendar; charset=utf-8"
                        } else {
                            "application/xml; charset=utf-8"
                        },
                    )
                    .body(b.clone());
            }
            let mut resp = req
                .send()
                .await
                .map_err(|e| DavError::Unreachable(without_url(&e)))?;
            let status = resp.status();
            if status.is_redirection()
                && let Some(loc) = resp.headers().get("location").and_then(|v| v.to_str().ok())
            {
                let next = url.join(loc).map_err(|_| {
                    DavError::Malformed("a redirect without a usable Location".into())
                })?;
                url = self.check(next.as_str())?;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED
                || status == StatusCode::FORBIDDEN && method == "PROPFIND"
            {
                return Err(DavError::Unauthorized);
            }
            let headers = resp.headers().clone();
            // A feed or a listing is read whole, so its size is bounded.
            let mut body = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| DavError::Unreachable(without_url(&e)))?
            {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(DavError::Malformed(format!(
                        "the answer is larger than {} MiB",
                        MAX_BODY >> 20
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            let text = String::from_utf8_lossy(&body).into_owned();
            return Ok((status, headers, text, url));
        }
        Err(DavError::Malformed("too many redirects".into()))
    }

    async fn propfind(
        &self,
        url: &str,
        depth: &str,
        props: &str,
    ) -> Result<(Vec<Resp>, Url), DavError> {
        let (status, _, text, url) = self
            .send("PROPFIND", url, &[("depth", depth)], Some(xml_body(props)))
            .await?;
        if status != StatusCode::MULTI_STATUS {
            return Err(DavError::Status(status.as_u16(), "PROPFIND".into()));
        }
        Ok((parse_multistatus(&text)?, url))
    }

    /// Finds the calendars behind `server_url`: the server root, a
    /// principal, a calendar home or a calendar itself.
    #[tracing::instrument(skip_all)]
    pub async fn discover(
        &self,
        server_url: &str,
    ) -> Result<(String, Vec<RemoteCalendar>), DavError> {
        let props = "<d:current-user-principal/><c:calendar-home-set/><d:resourcetype/>";
        let first = match self.propfind(server_url, "0", props).await {
            Ok(r) => r,
            Err(DavError::Status(..)) => {
                // RFC 6764 §5: the well-known address names the context path.
                let base = self.check(server_url)?;
                let wk = base
                    .join("/.well-known/caldav")
                    .map_err(|e| DavError::Malformed(e.to_string()))?;
                self.propfind(wk.as_str(), "0", props).await?
            }
            Err(e) => return Err(e),
        };
        let (resps, at) = first;
        let r = resps.first().ok_or(DavError::NoCalendars)?;
        let is_calendar = r.prop(DAV, "resourcetype").is_some_and(|p| {
            p.children
                .iter()
                .any(|(ns, n)| ns == CALDAV && n == "calendar")
        });
        let mut home = r
            .prop(CALDAV, "calendar-home-set")
            .and_then(|p| p.hrefs.first().cloned());
        if home.is_none()
            && !is_calendar
            && let Some(principal) = r
                .prop(DAV, "current-user-principal")
                .and_then(|p| p.hrefs.first().cloned())
        {
            let purl = at
                .join(&principal)
                .map_err(|e| DavError::Malformed(e.to_string()))?;
            let (pr, _) = self
                .propfind(purl.as_str(), "0", "<c:calendar-home-set/>")
                .await?;
            home = pr
                .first()
                .and_then(|r| r.prop(CALDAV, "calendar-home-set"))
                .and_then(|p| p.hrefs.first().cloned());
        }
        let home_url = match (&home, is_calendar) {
            (Some(h), _) => at.join(h).map_err(|e| DavError::Malformed(e.to_string()))?,
            (None, true) => {
                let cal = self.list(at.as_str(), "0").await?;
                if cal.is_empty() {
                    return Err(DavError::NoCalendars);
                }
                return Ok((at.to_string(), cal));
            }
            (None, false) => at.clone(),
        };
        let cals = self.list(home_url.as_str(), "1").await?;
        if cals.is_empty() {
            return Err(DavError::NoCalendars);
        }
        Ok((home_url.to_string(), cals))
    }

    /// The calendar collections at `url` (depth 1: its members).
    pub async fn list(&self, url: &str, depth: &str) -> Result<Vec<RemoteCalendar>, DavError> {
        let (resps, at) = self
            .propfind(
                url,
                depth,
                "<d:resourcetype/><d:displayname/><d:current-user-privilege-set/><cs:getctag/><d:sync-token/><c:supported-calendar-component-set/>",
            )
            .await?;
        let mut out = Vec::new();
        for r in resps.iter().filter(|r| r.status_ok) {
            let is_cal = r.prop(DAV, "resourcetype").is_some_and(|p| {
                p.children
                    .iter()
                    .any(|(ns, n)| ns == CALDAV && n == "calendar")
            });
            if !is_cal {
                continue;
            }
            // A collection for tasks or journals only holds no events.
            if let Some(set) = r.prop(CALDAV, "supported-calendar-component-set")
                && !set.children.is_empty()
                && !set.children.iter().any(|(_, n)| n == "comp")
            {
                continue;
            }
            let href = at
                .join(&r.href)
                .map_err(|e| DavError::Malformed(e.to_string()))?;
            let readonly = r.prop(DAV, "current-user-privilege-set").is_some_and(|p| {
                !p.children.iter().any(|(ns, n)| {
                    ns == DAV && matches!(n.as_str(), "write" | "write-content" | "all")
                })
            });
            let name = r
                .prop(DAV, "displayname")
                .map(|p| p.text.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| {
                    href.path_segments()
                        .and_then(|mut s| s.rfind(|x| !x.is_empty()).map(str::to_string))
                        .unwrap_or_else(|| "Calendar".into())
                });
            let ctag = r
                .prop(DAV, "sync-token")
                .or_else(|| r.prop(CS, "getctag"))
                .map(|p| p.text.clone())
                .filter(|t| !t.is_empty());
            out.push(RemoteCalendar {
                href: href.to_string(),
                name,
                readonly,
                ctag,
            });
        }
        Ok(out)
    }

    /// The change marker of one collection (`sync-token`, else `getctag`):
    /// one small request tells whether anything changed.
    pub async fn ctag(&self, cal: &str) -> Result<Option<String>, DavError> {
        Ok(self
            .list(cal, "0")
            .await?
            .into_iter()
            .next()
            .and_then(|c| c.ctag))
    }

    /// RFC 6578 `sync-collection`: with a token, what changed since it
    /// (changed objects with their etags, removed hrefs); without, every
    /// object. Answers the new token too. A server without the report, or
    /// one that no longer knows the token, answers an error: the caller
    /// falls back to a full listing.
    pub async fn sync_collection(
        &self,
        cal: &str,
        token: Option<&str>,
    ) -> Result<(Vec<(String, String)>, Vec<String>, Option<String>), DavError> {
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>{}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#,
            xml_escape(token.unwrap_or(""))
        );
        let (status, _, text, at) = self
            .send("REPORT", cal, &[("depth", "1")], Some(body))
            .await?;
        if status != StatusCode::MULTI_STATUS {
            return Err(DavError::Status(
                status.as_u16(),
                "REPORT sync-collection".into(),
            ));
        }
        let doc =
            roxmltree::Document::parse(&text).map_err(|e| DavError::Malformed(e.to_string()))?;
        let new_token = doc
            .root_element()
            .children()
            .find(|n| {
                n.is_element()
                    && n.tag_name().namespace() == Some(DAV)
                    && n.tag_name().name() == "sync-token"
            })
            .and_then(|n| n.text())
            .map(|t| t.trim().to_string());
        let cal_url = at.clone();
        let mut changed = Vec::new();
        let mut removed = Vec::new();
        for r in parse_multistatus(&text)? {
            let href = at
                .join(&r.href)
                .map_err(|e| DavError::Malformed(e.to_string()))?;
            if href.path().trim_end_matches('/') == cal_url.path().trim_end_matches('/') {
                continue;
            }
            match r.prop(DAV, "getetag") {
                Some(e) if r.status_ok => changed.push((href.to_string(), e.text.clone())),
                _ if !r.status_ok => removed.push(href.to_string()),
                _ => {}
            }
        }
        Ok((changed, removed, new_token))
    }

    /// Every calendar object of a collection with its etag.
    pub async fn etags(&self, cal: &str) -> Result<Vec<(String, String)>, DavError> {
        let (resps, at) = self
            .propfind(cal, "1", "<d:getetag/><d:resourcetype/>")
            .await?;
        let mut out = Vec::new();
        for r in resps.iter().filter(|r| r.status_ok) {
            let is_collection = r
                .prop(DAV, "resourcetype")
                .is_some_and(|p| !p.children.is_empty());
            let Some(etag) = r.prop(DAV, "getetag").map(|p| p.text.clone()) else {
                continue;
            };
            if is_collection {
                continue;
            }
            let href = at
                .join(&r.href)
                .map_err(|e| DavError::Malformed(e.to_string()))?;
            out.push((href.to_string(), etag));
        }
        Ok(out)
    }

    /// The data of the named objects (`calendar-multiget`), as (href, etag, ics).
    pub async fn multiget(
        &self,
        cal: &str,
        hrefs: &[String],
    ) -> Result<Vec<(String, String, String)>, DavError> {
        if hrefs.is_empty() {
            return Ok(Vec::new());
        }
        let mut body = String::from(
            r#"<?xml version="1.0" encoding="utf-8"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>"#,
        );
        for h in hrefs {
            let path = Url::parse(h)
                .map(|u| u.path().to_string())
                .unwrap_or_else(|_| h.clone());
            body.push_str(&format!("<d:href>{}</d:href>", xml_escape(&path)));
        }
        body.push_str("</c:calendar-multiget>");
        self.report_data(cal, body, None).await
    }

    /// RFC 4791 §7.8 `calendar-query` with a `time-range` filter: every
    /// event object with an instance in [`from`, `to`), as (href, etag,
    /// ics). The server expands recurrences to decide; the objects come
    /// back whole. `limit` bounds how long the caller waits.
    pub async fn time_range(
        &self,
        cal: &str,
        from: jiff::Timestamp,
        to: jiff::Timestamp,
        limit: Duration,
    ) -> Result<Vec<(String, String, String)>, DavError> {
        let f = |t: jiff::Timestamp| t.strftime("%Y%m%dT%H%M%SZ").to_string();
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="{}" end="{}"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>"#,
            f(from),
            f(to)
        );
        self.report_data(cal, body, Some(limit)).await
    }

    /// A REPORT that answers calendar data (multiget, query).
    async fn report_data(
        &self,
        cal: &str,
        body: String,
        limit: Option<Duration>,
    ) -> Result<Vec<(String, String, String)>, DavError> {
        let (status, _, text, at) = self
            .send_within(
                "REPORT",
                cal,
                &[("depth", "1")],
                Some(body),
                limit.unwrap_or(Duration::from_secs(30)),
            )
            .await?;
        if status != StatusCode::MULTI_STATUS {
            return Err(DavError::Status(status.as_u16(), "REPORT".into()));
        }
        let mut out = Vec::new();
        for r in parse_multistatus(&text)? {
            let (Some(etag), Some(data)) =
                (r.prop(DAV, "getetag"), r.prop(CALDAV, "calendar-data"))
            else {
                continue;
            };
            let href = at
                .join(&r.href)
                .map_err(|e| DavError::Malformed(e.to_string()))?;
            out.push((href.to_string(), etag.text.clone(), data.text.clone()));
        }
        Ok(out)
    }

    /// Writes one calendar object under a precondition (`if-none-match: *`
    /// for a new one, `if-match` with the etag known for an existing one;
    /// none to overwrite). Answers the new etag when the server tells it.
    pub async fn put(
        &self,
        url: &str,
        ics: &str,
        cond: Option<(&str, &str)>,
    ) -> Result<Option<String>, DavError> {
        let (status, headers, _, _) = self
            .send("PUT", url, cond.as_slice(), Some(ics.to_string()))
            .await?;
        if !status.is_success() {
            return Err(DavError::Status(status.as_u16(), "PUT".into()));
        }
        Ok(headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string))
    }

    pub async fn delete(&self, url: &str) -> Result<(), DavError> {
        let (status, _, _, _) = self.send("DELETE", url, &[], None).await?;
        if status.is_success() || status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
            Ok(())
        } else {
            Err(DavError::Status(status.as_u16(), "DELETE".into()))
        }
    }
}

/// An ICS feed fetch: unchanged (by ETag / Last-Modified), or its text.
pub enum Feed {
    Unchanged,
    Body {
        text: String,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

/// Fetches an ICS feed, conditionally when an earlier answer gave an ETag
/// or a Last-Modified.
pub async fn fetch_feed(
    state: &crate::AppState,
    url: &str,
    etag: Option<&str>,
    last_modified: Option<&str>,
) -> Result<Feed, DavError> {
    let dav = Dav::new(state, "", "");
    let url = if let Some(rest) = url.strip_prefix("webcal://") {
        format!("https://{rest}")
    } else {
        url.to_string()
    };
    let mut headers = Vec::new();
    if let Some(e) = etag {
        headers.push(("if-none-match", e));
    }
    if let Some(l) = last_modified {
        headers.push(("if-modified-since", l));
    }
    let (status, h, text, _) = dav.send("GET", &url, &headers, None).await?;
    if status == StatusCode::NOT_MODIFIED {
        return Ok(Feed::Unchanged);
    }
    if !status.is_success() {
        return Err(DavError::Status(status.as_u16(), "GET".into()));
    }
    if !text.trim_start().starts_with("BEGIN:VCALENDAR") {
        return Err(DavError::Malformed(
            "the address does not serve an iCalendar feed".into(),
        ));
    }
    let header = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
    Ok(Feed::Body {
        text,
        etag: header("etag"),
        last_modified: header("last-modified"),
    })
}

/// reqwest's error text without the URL (which may carry credentials).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "the server");
    }
    if e.is_timeout() {
        "it did not answer in time".into()
    } else if e.is_connect() {
        "the connection failed".into()
    } else {
        s
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
