// The browser phone: one JsSIP user agent registered with the credentials /api/me issues for this
// console session, one call at a time, audio only, plus at most one consultation call (a warm
// transfer) while that call is on hold. The screen pop does not depend on it: it comes from the
// WebSocket, so a phone that fails to register still shows who is calling.
"use strict";

(function () {
  // Everything is on one host or LAN: no STUN/TURN, host candidates only.
  const PC_CONFIG = { iceServers: [] };
  const MEDIA = { audio: true, video: false };

  function createPhone(sip, audio, onChange) {
    // consult: none | calling | talking (the second call, to an agency's operator).
    const status = { reg: "none", cause: "", call: "idle", muted: false, held: false, consult: "none" };
    let ua = null;
    let session = null;
    let consult = null;
    let completing = false; // the transfer is being completed: the consultation's end is the transfer's

    function changed() { onChange(Object.assign({}, status)); }

    // The speaker plays the call being talked on: the consultation while there is one.
    function speaking(pc) { return (consult && consult.connection) || (session && session.connection) || pc; }

    function playReceivers(pc) {
      const tracks = pc.getReceivers().map((r) => r.track).filter((tr) => tr && tr.kind === "audio");
      if (tracks.length) audio.srcObject = new MediaStream(tracks);
    }

    function attachRemote(pc) {
      // Late-joining tracks arrive by event; tracks already there (answer raced us) by receivers.
      pc.addEventListener("track", (ev) => {
        if (speaking(pc) !== pc) return; // the held call's tracks wait for its turn
        audio.srcObject = ev.streams && ev.streams[0] ? ev.streams[0] : new MediaStream([ev.track]);
      });
      if (speaking(pc) === pc) playReceivers(pc);
    }

    function endSession(ended) {
      if (session !== ended) return;
      session = null;
      if (consult && !consult.isEnded()) consult.terminate(); // nothing left to transfer
      audio.srcObject = null;
      Object.assign(status, { call: "idle", muted: false, held: false });
      changed();
    }

    function onNewSession(ev) {
      const incoming = ev.session;
      if (ev.originator !== "remote") return;
      if (session) {
        // One call at a time: app_queue never rings a busy member, so this is a stray INVITE.
        incoming.terminate({ status_code: 486, reason_phrase: "Busy Here" });
        return;
      }
      session = incoming;
      status.call = "incoming";
      incoming.on("peerconnection", (e) => attachRemote(e.peerconnection));
      incoming.on("accepted", () => { status.call = "in_call"; changed(); });
      incoming.on("confirmed", () => {
        status.call = "in_call";
        if (incoming.connection) attachRemote(incoming.connection);
        changed();
      });
      incoming.on("muted", () => { status.muted = true; changed(); });
      incoming.on("unmuted", () => { status.muted = false; changed(); });
      incoming.on("hold", (e) => { if (e.originator === "local") { status.held = true; changed(); } });
      incoming.on("unhold", (e) => { if (e.originator === "local") { status.held = false; changed(); } });
      incoming.on("ended", () => endSession(incoming));
      incoming.on("failed", () => endSession(incoming));
      changed();
    }

    function start() {
      if (!window.JsSIP) {
        status.reg = "no_lib";
        changed();
        return;
      }
      if (!sip || !sip.ws_url) {
        status.reg = "disconnected";
        changed();
        return;
      }
      const socket = new window.JsSIP.WebSocketInterface(sip.ws_url);
      ua = new window.JsSIP.UA({
        sockets: [socket],
        uri: sip.uri,
        authorization_user: sip.user,
        password: sip.password,
        display_name: sip.display_name || undefined,
        register: true,
        session_timers: false,
      });
      ua.on("connecting", () => { status.reg = "connecting"; changed(); });
      ua.on("disconnected", () => { status.reg = "disconnected"; changed(); });
      ua.on("registered", () => { status.reg = "registered"; status.cause = ""; changed(); });
      ua.on("unregistered", () => { status.reg = "unregistered"; changed(); });
      ua.on("registrationFailed", (e) => { status.reg = "failed"; status.cause = String(e.cause || ""); changed(); });
      ua.on("newRTCSession", onNewSession);
      status.reg = "connecting";
      changed();
      ua.start();
    }

    function stop() {
      if (consult && !consult.isEnded()) consult.terminate();
      if (session) session.terminate();
      if (ua) ua.stop();
      ua = null;
    }

    function answer() {
      if (!session || status.call !== "incoming") return false;
      session.answer({ mediaConstraints: MEDIA, pcConfig: PC_CONFIG });
      status.call = "connecting";
      changed();
      return true;
    }

    // True when there was a call to end. Safe to call in any state. During a consultation it ends the
    // consultation (the citizen on hold comes back), never the citizen.
    function hangup() {
      if (consult) return cancelConsult();
      if (!session || session.isEnded()) return false;
      session.terminate();
      return true;
    }

    function toggleMute() {
      if (!session || status.call !== "in_call" || consult) return;
      if (session.isMuted().audio) session.unmute({ audio: true });
      else session.mute({ audio: true });
    }

    function toggleHold() {
      if (!session || status.call !== "in_call" || consult) return;
      if (session.isOnHold().local) session.unhold();
      else session.hold();
    }

    function dtmf(tone) {
      // RFC 4733 in the media, what Asterisk's WebRTC endpoints expect (not SIP INFO).
      const talking = status.consult === "talking" ? consult : status.call === "in_call" && !consult ? session : null;
      if (talking) talking.sendDTMF(tone, { transportType: "RFC2833" });
    }

    // Why a transfer failed, kept for the operator's error line; always false.
    function refused(e) {
      status.cause = String((e && (e.cause || (e.response && e.response.status_code))) || "");
      changed();
      return false;
    }

    // Blind transfer: SIP REFER to xfer-<queue> at Asterisk, which takes the caller to that queue (and
    // back to this phone if nobody there answers). Resolves true once Asterisk accepted the REFER.
    function transfer(queue) {
      if (!session || status.call !== "in_call" || consult) return Promise.resolve(false);
      return new Promise((resolve) => {
        session.refer(target("xfer-", queue), {
          eventHandlers: {
            accepted: () => resolve(true),
            requestFailed: (e) => resolve(refused(e)),
            failed: (e) => resolve(refused(e)),
          },
        });
      });
    }

    function target(prefix, queue) {
      return "sip:" + prefix + queue + "@" + String(sip.uri).split("@")[1];
    }

    // Warm transfer, first step: the citizen on hold (Asterisk plays them music), a call to
    // consult-<queue> naming the citizen's call (``about``: its uniqueid) so the agency operator's screen
    // pops with it. Any end of the consultation but a completed transfer brings the citizen back.
    function consultStart(queue, about) {
      if (!session || status.call !== "in_call" || consult) return false;
      const uniqueid = String(about).replace(/[^A-Za-z0-9.-]/g, ""); // a header value: nothing but an id
      if (!uniqueid) return false;
      if (!session.isOnHold().local) session.hold();
      completing = false;
      status.cause = "";
      const call = ua.call(target("consult-", queue), {
        mediaConstraints: MEDIA,
        pcConfig: PC_CONFIG,
        extraHeaders: ["X-Siaga-For: " + uniqueid],
      });
      consult = call;
      status.consult = "calling";
      call.on("peerconnection", (e) => attachRemote(e.peerconnection));
      if (call.connection) attachRemote(call.connection);
      call.on("confirmed", () => {
        if (consult !== call) return;
        status.consult = "talking";
        playReceivers(call.connection);
        changed();
      });
      call.on("failed", (e) => consultEnded(call, e));
      call.on("ended", (e) => consultEnded(call, e));
      changed();
      return true;
    }

    function consultEnded(call, e) {
      if (consult !== call) return;
      consult = null;
      status.consult = "none";
      if (!completing) {
        status.cause = String((e && e.cause) || "");
        resumeCitizen();
      }
      changed();
    }

    function resumeCitizen() {
      if (!session || session.isEnded()) return;
      if (session.isOnHold().local) session.unhold();
      if (session.connection) playReceivers(session.connection);
    }

    // Batal: end the consultation; the citizen comes back (consultEnded). True when there was one.
    function cancelConsult() {
      if (!consult) return false;
      if (consult.isEnded()) consultEnded(consult, null);
      else consult.terminate();
      return true;
    }

    // Selesaikan: ``request`` asks our service to have Asterisk bridge the citizen to the agency
    // operator (AMI Bridge, not a REFER/Replaces: ivr/operators/floor.py says why) and resolves true
    // once Asterisk did; Asterisk then ends both our legs, and so do we, should its BYE be lost.
    // False (nothing changed, both calls still up) when it did not.
    async function consultComplete(request) {
      if (!session || !consult || status.consult !== "talking") return false;
      const call = consult;
      completing = true;
      if (!(await request())) {
        completing = false;
        return false;
      }
      for (const leg of [call, session]) if (leg && !leg.isEnded()) leg.terminate();
      return true;
    }

    // Audio counters of the call being talked on (getStats), or null without one: is sound flowing both ways?
    async function audioStats() {
      const pc = (consult || session) && (consult || session).connection;
      if (!pc) return null;
      const out = { bytesReceived: 0, totalAudioEnergy: 0, bytesSent: 0 };
      (await pc.getStats()).forEach((r) => {
        if (r.kind !== "audio") return;
        if (r.type === "inbound-rtp") {
          out.bytesReceived += r.bytesReceived || 0;
          out.totalAudioEnergy += r.totalAudioEnergy || 0;
        }
        if (r.type === "outbound-rtp") out.bytesSent += r.bytesSent || 0;
      });
      return out;
    }

    return {
      start, stop, answer, hangup, toggleMute, toggleHold, dtmf, audioStats, transfer,
      consultStart, consultComplete, cancelConsult,
      get status() { return Object.assign({}, status); },
      get callUp() { return Boolean(session) && !session.isEnded(); },
    };
  }

  // A soft two-tone ring through WebAudio, only when the operator switched it on (browsers allow
  // audio only after a click, and a shared room may not want it).
  function createRinger() {
    let ctx = null;
    let timer = null;
    function beep() {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = 440;
      gain.gain.value = 0.08;
      osc.connect(gain).connect(ctx.destination);
      osc.start();
      osc.frequency.setValueAtTime(480, ctx.currentTime + 0.4);
      osc.stop(ctx.currentTime + 0.8);
    }
    return {
      unlock() {
        if (!ctx && window.AudioContext) ctx = new AudioContext();
        if (ctx && ctx.state === "suspended") ctx.resume();
      },
      set(on) {
        if (on && !timer && ctx) { beep(); timer = setInterval(beep, 2000); }
        if (!on && timer) { clearInterval(timer); timer = null; }
      },
    };
  }

  window.phoneKit = Object.freeze({ createPhone, createRinger });
})();
