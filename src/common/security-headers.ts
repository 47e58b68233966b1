import type { NextFunction, Request, Response } from 'express';

/**
 * What the dashboard needs and no more: its own script, stylesheet and API (Preact sets styles
 * through the DOM, which a style-src without 'unsafe-inline' allows); no plugins, no <base>, no
 * form posts, and no page may frame it (clickjacking of its buttons).
 */
const PAGE_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Swagger UI (/docs) writes inline styles of its own; its scripts are still files of /docs. */
const DOCS_POLICY = PAGE_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'");

/**
 * The usual security headers on every answer. `Cache-Control: no-store` keeps API answers (keys
 * when created, inventory) out of shared and browser caches; the dashboard's page and assets set
 * their own, which replaces it.
 */
export function securityHeadersMiddleware() {
  return (req: Request, res: Response, next: NextFunction): void => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Content-Security-Policy', req.path === '/docs' || req.path.startsWith('/docs/') ? DOCS_POLICY : PAGE_POLICY);
    res.setHeader('Cache-Control', 'no-store');
    next();
  };
}
