//! A real browser for the console's tests: headless Chromium driven by
//! chromedriver over WebDriver (fantoccini). Debian's `chromium` and
//! `chromium-driver` packages provide both (scripts/lib.sh installs them). A test
//! that needs a browser never skips: without chromedriver it fails saying what to
//! install.

use fantoccini::{Client, ClientBuilder};
use std::path::PathBuf;
use std::time::Duration;

/// A running chromedriver and a browser session on it; both end when dropped:
/// the driver runs in a process group of its own, and dropping the `Browser`
/// kills that whole group, Chromium with it (killing only the driver would leave
/// its Chromium running, re-parented to init, after every test; a test that
/// panics drops it too).
pub struct Browser {
    pub client: Client,
    _driver: tokio::process::Child,
    group: Option<u32>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(group) = self.group {
            // `kill -KILL -<pgid>`: the driver and every browser process it started.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// The chromedriver to use: `CHROMEDRIVER`, else `chromedriver` on the PATH.
fn driver_path() -> String {
    std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".to_owned())
}

/// The browser binary: `CHROME_BIN`, else Debian's `/usr/bin/chromium`.
fn chrome_path() -> String {
    std::env::var("CHROME_BIN").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless Chromium
    /// window of a laptop's size.
    ///
    /// # Panics
    /// When chromedriver or Chromium is missing (naming the Debian packages), or
    /// the session cannot start.
    pub async fn start() -> Self {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
            listener.local_addr().expect("an address").port()
        };
        let driver = driver_path();
        let child = tokio::process::Command::new(&driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "the console's browser tests need chromedriver ({driver}: {e}): install Debian's \
                     chromium and chromium-driver (`apt-get install chromium chromium-driver`, \
                     which scripts/test does through scripts/lib.sh), or set CHROMEDRIVER"
                )
            });
        let chrome = chrome_path();
        assert!(
            std::path::Path::new(&chrome).exists(),
            "the console's browser tests need Chromium at {chrome}: install Debian's chromium \
             (`apt-get install chromium chromium-driver`), or set CHROME_BIN"
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({
                "binary": chrome,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,860"]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let mut last = None;
        for _ in 0..100 {
            match ClientBuilder::new(connector.clone())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    let group = child.id();
                    return Self {
                        client,
                        _driver: child,
                        group,
                    };
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver at {url} did not open a Chromium session: {last:?}");
    }

    /// Clicks the element `css` names (waiting for it to be on the page) and, when
    /// the click submits a form or follows a link, waits until the next page has
    /// replaced this one: WebDriver's click can return before the browser has
    /// left the page, and a test reading the store or the page right after it
    /// would race the request. A click that loads nothing returns after 5 s.
    ///
    /// # Panics
    /// When no such element appears or the click fails.
    pub async fn click(&self, css: &str) {
        use fantoccini::Locator;
        let before = self.client.find(Locator::Css("html")).await.ok();
        self.client
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
        let Some(before) = before else { return };
        for _ in 0..100 {
            if before.tag_name().await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The next page's document is there; let it finish loading.
        let _ = self.client.wait().for_element(Locator::Css("body")).await;
    }

    /// Signs in to the console at `base` with `key` through its form and returns
    /// the session id the browser got. The browser must be signed out: `/console`
    /// is checked to send it to the sign-in page first. Waits until the signed-in
    /// page (its role badge) is there and checks it is the connections list.
    ///
    /// # Panics
    /// When the console does not send a signed-out browser to sign in, or the
    /// key does not sign in (the page's source is shown).
    pub async fn sign_in(&self, base: &str, key: &str) -> String {
        use fantoccini::Locator;
        let c = &self.client;
        c.goto(&format!("{base}/console"))
            .await
            .unwrap_or_else(|e| panic!("{base}/console: {e}"));
        let path = c
            .current_url()
            .await
            .expect("the address")
            .path()
            .to_owned();
        assert!(
            path.ends_with("/console/sign-in"),
            "a signed-out browser is sent to sign in, not to {path}"
        );
        self.fill("#api_key", key).await;
        self.click("form button[type=submit]").await;
        c.wait()
            .for_element(Locator::Css("#role"))
            .await
            .expect("a signed-in page");
        assert_eq!(
            c.current_url().await.expect("the address").path(),
            "/console/connections",
            "signed in: {}",
            c.source().await.unwrap_or_default()
        );
        c.get_named_cookie("lb_console")
            .await
            .expect("the session cookie")
            .value()
            .to_owned()
    }

    /// Signs out through the header's button and waits for the sign-in page.
    ///
    /// # Panics
    /// When there is no sign-out button or the sign-in page does not follow.
    pub async fn sign_out(&self) {
        use fantoccini::Locator;
        self.click(".who button").await;
        self.client
            .wait()
            .for_element(Locator::Css("#api_key"))
            .await
            .expect("the sign-in page");
    }

    /// The text of the element `css` selects, waiting for it: the page a click
    /// loaded may still be arriving, so an element that is not there yet, or
    /// vanished while being read, is looked up again (for up to 10 s).
    ///
    /// # Panics
    /// When no such element is on the page by then.
    pub async fn text(&self, css: &str) -> String {
        self.read(css, |element| async move { element.text().await })
            .await
    }

    /// The current value of the form field `css` selects (what a person typed
    /// or the page filled in), waiting for it as [`Browser::text`] does.
    ///
    /// # Panics
    /// When no such field is on the page by then.
    pub async fn value(&self, css: &str) -> String {
        self.read(css, |element| async move {
            element.prop("value").await.map(Option::unwrap_or_default)
        })
        .await
    }

    /// Replaces what the input `css` selects holds with `value`, waiting for
    /// the input to be on the page.
    ///
    /// # Panics
    /// When no such input appears or it cannot be typed into.
    pub async fn fill(&self, css: &str, value: &str) {
        use fantoccini::Locator;
        let field = self
            .client
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        field
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clear {css}: {e}"));
        field
            .send_keys(value)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Reads something of the element `css` selects, looking it up again while
    /// it is missing or goes stale (up to 10 s).
    async fn read<F, Fut>(&self, css: &str, get: F) -> String
    where
        F: Fn(fantoccini::elements::Element) -> Fut,
        Fut: std::future::Future<Output = Result<String, fantoccini::error::CmdError>>,
    {
        use fantoccini::Locator;
        let mut last = None;
        for _ in 0..100 {
            match self.client.find(Locator::Css(css)).await {
                Ok(element) => match get(element).await {
                    Ok(read) => return read,
                    Err(e) => last = Some(e.to_string()),
                },
                Err(e) => last = Some(e.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css}: {}", last.unwrap_or_default())
    }

    /// Saves a screenshot of the page as `{name}.png` under the test artefacts
    /// folder (`target/console-screenshots`) and prints its path.
    ///
    /// # Panics
    /// When the browser cannot take it or the file cannot be written.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let folder = screenshots_folder();
        std::fs::create_dir_all(&folder).expect("the screenshots folder");
        let path = folder.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("the screenshot written");
        println!("screenshot: {}", path.display());
        path
    }
}

impl Browser {
    /// As [`Browser::screenshot`], of the whole page rather than the window: the
    /// window is made as tall as the page (up to 3,000 px) for the shot, then
    /// put back to a laptop's size.
    ///
    /// # Panics
    /// As [`Browser::screenshot`], or when the window cannot be resized.
    pub async fn screenshot_page(&self, name: &str) -> PathBuf {
        let height = self
            .client
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .expect("the page's height")
            .as_u64()
            .unwrap_or(860);
        let tall = u32::try_from(height.clamp(860, 3000)).unwrap_or(860) + 140;
        self.client
            .set_window_size(1280, tall)
            .await
            .expect("a taller window");
        let path = self.screenshot(name).await;
        self.client
            .set_window_size(1280, 860)
            .await
            .expect("the window back to a laptop's size");
        path
    }
}

/// Where screenshots go: `$CARGO_TARGET_DIR/console-screenshots`, else the
/// workspace's `target/console-screenshots`.
/// The console's session store over the local system's stack (to read what
/// a sign-in stored, or a session's CSRF token).
pub async fn sessions(system: &devstack::runner::LocalSystem) -> cloud::dynamo::DynamoSessionStore {
    let sdk = cloud::testing::sdk().await;
    cloud::dynamo::DynamoSessionStore::new(cloud::dynamo::Table::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        system.config.tables.data.clone(),
    ))
}

/// A signed-in session's CSRF token, as its pages' forms carry it (for a
/// POST a test makes itself).
///
/// # Panics
/// When the session is not stored (or has expired).
pub async fn csrf_of(system: &devstack::runner::LocalSystem, session: &str) -> String {
    use domain::ports::SessionStore;
    sessions(system)
        .await
        .session(&console::session::id_hash(session), chrono::Utc::now())
        .await
        .expect("the session store answers")
        .expect("the session is stored")
        .csrf
}

pub fn screenshots_folder() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_MANIFEST_DIR").map(|d| PathBuf::from(d).join("../target"))
        })
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("console-screenshots")
}
