// Thin fetch wrapper for the JSON API. Errors become ApiError with the server's stable code.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

let onUnauthenticated = null;

/** Called once when any request answers 401 (session expired or logged out elsewhere). */
export function setUnauthenticatedHandler(fn) {
  onUnauthenticated = fn;
}

export async function api(method, path, body, { quiet401 = false, timeoutMs = 0 } = {}) {
  const opts = {
    method,
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
  };
  // A request that never answers (a connection dropped mid-reload) must not hang the app.
  if (timeoutMs > 0 && typeof AbortSignal !== 'undefined' && AbortSignal.timeout) {
    opts.signal = AbortSignal.timeout(timeoutMs);
  }
  if (typeof FormData !== 'undefined' && body instanceof FormData) {
    opts.body = body;
  } else if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, opts);
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection.');
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = (data && data.error) || {};
    const code = err.code || `http_${res.status}`;
    if (res.status === 401 && !quiet401 && onUnauthenticated) onUnauthenticated();
    throw new ApiError(res.status, code, err.message || describeStatus(res.status));
  }
  return data;
}

function describeStatus(status) {
  if (status === 413) return 'That is too large.';
  if (status === 503) return 'The server is busy or restarting. Try again in a moment.';
  if (status === 403) return 'You are not allowed to do that.';
  if (status === 404) return 'Not found.';
  return `Request failed (${status}).`;
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body ?? {}, opts);
export const patch = (path, body, opts) => api('PATCH', path, body ?? {}, opts);
export const del = (path, opts) => api('DELETE', path, undefined, opts);

/** Upload one file (multipart field `file`); resolves to the attachment record. */
export function upload(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/uploads');
    xhr.withCredentials = true;
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total);
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'Upload failed: cannot reach the server.'));
    xhr.onload = () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText || 'null');
      } catch {
        data = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        const att = data && (data.attachment || data.upload || data);
        resolve(att);
      } else {
        const err = (data && data.error) || {};
        if (xhr.status === 401 && onUnauthenticated) onUnauthenticated();
        reject(
          new ApiError(
            xhr.status,
            err.code || `http_${xhr.status}`,
            err.message || (xhr.status === 413 ? 'The file is larger than the server accepts.' : `Upload failed (${xhr.status}).`),
          ),
        );
      }
    };
    const fd = new FormData();
    fd.append('file', file, file.name);
    xhr.send(fd);
  });
}
