// Passkey registration and sign-in for the pages in templates/auth/.
// The page names the ceremony and its endpoints in data attributes on one element:
// <section data-webauthn="register|authenticate" data-options-url data-verify-url>.
"use strict";

(function () {
  function toBase64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let text = "";
    for (let i = 0; i < bytes.length; i += 1) text += String.fromCharCode(bytes[i]);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function fromBase64url(value) {
    const base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "===".slice((base64.length + 3) % 4);
    const text = atob(padded);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i += 1) bytes[i] = text.charCodeAt(i);
    return bytes.buffer;
  }

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  async function postJSON(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": csrfToken(),
      },
      body: JSON.stringify(body || {}),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (ignored) {
      data = null;
    }
    if (!response.ok) {
      const reason = data && data.error ? data.error : "The server refused the request (" +
        response.status + "). Reload the page and try again.";
      throw new Error(reason);
    }
    return data;
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      return Object.assign({}, item, { id: fromBase64url(item.id) });
    });
  }

  function creationOptions(options) {
    return Object.assign({}, options, {
      challenge: fromBase64url(options.challenge),
      user: Object.assign({}, options.user, { id: fromBase64url(options.user.id) }),
      excludeCredentials: descriptors(options.excludeCredentials),
    });
  }

  function requestOptions(options) {
    return Object.assign({}, options, {
      challenge: fromBase64url(options.challenge),
      allowCredentials: descriptors(options.allowCredentials),
    });
  }

  // The JSON form py_webauthn parses; `fields` are the ceremony's own response members.
  function credentialJSON(credential, fields) {
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: Object.assign(
        { clientDataJSON: toBase64url(credential.response.clientDataJSON) }, fields),
    };
  }

  function attestationJSON(credential) {
    const response = credential.response;
    return credentialJSON(credential, {
      attestationObject: toBase64url(response.attestationObject),
      transports: response.getTransports ? response.getTransports() : [],
    });
  }

  function assertionJSON(credential) {
    const response = credential.response;
    return credentialJSON(credential, {
      authenticatorData: toBase64url(response.authenticatorData),
      signature: toBase64url(response.signature),
      userHandle: response.userHandle ? toBase64url(response.userHandle) : null,
    });
  }

  const ceremonies = {
    register: async function (options) {
      const credential = await navigator.credentials.create({
        publicKey: creationOptions(options),
      });
      return attestationJSON(credential);
    },
    authenticate: async function (options) {
      const credential = await navigator.credentials.get({ publicKey: requestOptions(options) });
      return assertionJSON(credential);
    },
  };

  function explain(error) {
    switch (error && error.name) {
      case "NotAllowedError":
        return "The passkey request was cancelled or timed out. Press the button to try again.";
      case "InvalidStateError":
        return "This device already holds a passkey for your account. Sign in instead.";
      case "SecurityError":
        return "Passkeys are not allowed on this address. Open Sendwell at its configured URL.";
      case "NotSupportedError":
        return "This browser or device cannot create a suitable passkey.";
      default:
        return (error && error.message) || "Something went wrong. Please try again.";
    }
  }

  function start(section) {
    const kind = section.getAttribute("data-webauthn");
    const button = section.querySelector("#webauthn-start");
    const status = section.querySelector("#webauthn-status");
    function say(text, isError) {
      status.textContent = text;
      status.className = isError ? "flash flash-error" : "muted";
    }
    if (!window.PublicKeyCredential || !navigator.credentials) {
      say("This browser does not support passkeys. Use a current browser.", true);
      button.disabled = true;
      return;
    }
    button.addEventListener("click", async function () {
      button.disabled = true;
      say("Waiting for your passkey…", false);
      try {
        const options = await postJSON(section.getAttribute("data-options-url"));
        const credential = await ceremonies[kind](options);
        say("Checking…", false);
        const result = await postJSON(section.getAttribute("data-verify-url"), credential);
        say("Done. Opening Sendwell…", false);
        window.location.assign(result.redirect);
      } catch (error) {
        say(explain(error), true);
        button.disabled = false;
        button.focus();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const section = document.querySelector("[data-webauthn]");
    if (section) start(section);
  });
})();
