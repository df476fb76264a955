/* Text selections on an X connection (xsel.h). Plain ICCCM: we answer TARGETS and text
 * targets from memory; another owner's text is fetched as UTF8_STRING into our window's
 * property. Large transfers (INCR) are not done: text up to the server's request size. */
#include "xsel.h"

#include <stdlib.h>
#include <string.h>
#include <xcb/xfixes.h>

#define XSEL_MAX_TEXT (1024u * 1024u)

xcb_atom_t xsel_atom(xcb_connection_t *c, const char *name)
{
    xcb_intern_atom_reply_t *r =
        xcb_intern_atom_reply(c, xcb_intern_atom(c, 0, (uint16_t)strlen(name), name), NULL);
    xcb_atom_t a = r ? r->atom : XCB_ATOM_NONE;
    free(r);
    return a;
}

bool xsel_init(xsel *s, xcb_connection_t *c, xcb_window_t win, xsel_report_fn *report, void *ctx)
{
    memset(s, 0, sizeof *s);
    s->c = c, s->win = win, s->report = report, s->ctx = ctx;
    s->clipboard = xsel_atom(c, "CLIPBOARD");
    s->primary = XCB_ATOM_PRIMARY;
    s->utf8 = xsel_atom(c, "UTF8_STRING");
    s->targets = xsel_atom(c, "TARGETS");
    s->text_atom = xsel_atom(c, "TEXT");
    s->prop = xsel_atom(c, "REVM_SELECTION");
    s->incr = xsel_atom(c, "INCR");
    uint32_t maxreq = xcb_get_maximum_request_length(c) * 4u;
    s->max_prop = maxreq > 4096 ? maxreq - 1024 : 0;
    const xcb_query_extension_reply_t *ext = xcb_get_extension_data(c, &xcb_xfixes_id);
    if (!ext || !ext->present)
        return false;
    s->xfixes_event = ext->first_event;
    xcb_xfixes_query_version_reply_t *v =
        xcb_xfixes_query_version_reply(c, xcb_xfixes_query_version(c, 5, 0), NULL);
    if (!v)
        return false;
    free(v);
    uint32_t mask = XCB_XFIXES_SELECTION_EVENT_MASK_SET_SELECTION_OWNER;
    xcb_xfixes_select_selection_input(c, win, s->clipboard, mask);
    xcb_xfixes_select_selection_input(c, win, s->primary, mask);
    return true;
}

static bool same_as_last(xsel *s, const char *t, size_t n)
{
    return s->last && s->last_n == n && !memcmp(s->last, t, n);
}

static void remember(xsel *s, const char *t, size_t n)
{
    char *copy = malloc(n + 1);
    if (!copy)
        return;
    memcpy(copy, t, n);
    copy[n] = 0;
    free(s->last);
    s->last = copy, s->last_n = n;
}

void xsel_set(xsel *s, const char *text, size_t n)
{
    if (n > XSEL_MAX_TEXT)
        return;
    char *copy = malloc(n + 1);
    if (!copy)
        return;
    memcpy(copy, text, n);
    copy[n] = 0;
    free(s->text);
    s->text = copy, s->n = n;
    remember(s, text, n);
    xcb_set_selection_owner(s->c, s->win, s->clipboard, XCB_CURRENT_TIME);
    xcb_set_selection_owner(s->c, s->win, s->primary, XCB_CURRENT_TIME);
    xcb_flush(s->c);
}

static void answer(xsel *s, const xcb_selection_request_event_t *rq)
{
    xcb_atom_t prop = rq->property ? rq->property : rq->target;
    bool ok = false;
    if (s->text && (rq->selection == s->clipboard || rq->selection == s->primary)) {
        if (rq->target == s->targets) {
            xcb_atom_t list[] = {s->targets, s->utf8, XCB_ATOM_STRING, s->text_atom};
            xcb_change_property(s->c, XCB_PROP_MODE_REPLACE, rq->requestor, prop, XCB_ATOM_ATOM,
                                32, 4, list);
            ok = true;
        } else if ((rq->target == s->utf8 || rq->target == XCB_ATOM_STRING ||
                    rq->target == s->text_atom) && s->n <= s->max_prop) {
            xcb_change_property(s->c, XCB_PROP_MODE_REPLACE, rq->requestor, prop,
                                rq->target == s->text_atom ? s->utf8 : rq->target, 8,
                                (uint32_t)s->n, s->text);
            ok = true;
        }
    }
    xcb_selection_notify_event_t ev = {0};
    ev.response_type = XCB_SELECTION_NOTIFY;
    ev.time = rq->time;
    ev.requestor = rq->requestor;
    ev.selection = rq->selection;
    ev.target = rq->target;
    ev.property = ok ? prop : XCB_ATOM_NONE;
    xcb_send_event(s->c, 0, rq->requestor, XCB_EVENT_MASK_NO_EVENT, (const char *)&ev);
    xcb_flush(s->c);
}

static void fetch(xsel *s, const xcb_selection_notify_event_t *ev)
{
    if (ev->property == XCB_ATOM_NONE || ev->requestor != s->win)
        return;
    xcb_get_property_reply_t *r = xcb_get_property_reply(
        s->c, xcb_get_property(s->c, 1, s->win, s->prop, XCB_GET_PROPERTY_TYPE_ANY, 0, XSEL_MAX_TEXT / 4),
        NULL);
    if (!r)
        return;
    if (r->format == 8 && r->type != s->incr) {
        size_t n = (size_t)xcb_get_property_value_length(r);
        const char *t = xcb_get_property_value(r);
        if (!same_as_last(s, t, n)) {
            remember(s, t, n);
            s->report(s->ctx, t, n);
        }
    }
    free(r);
}

bool xsel_event(xsel *s, const xcb_generic_event_t *ev)
{
    uint8_t type = ev->response_type & 0x7f;
    if (s->xfixes_event && type == s->xfixes_event + XCB_XFIXES_SELECTION_NOTIFY) {
        const xcb_xfixes_selection_notify_event_t *e = (const void *)ev;
        if (e->owner != s->win && e->owner != XCB_NONE) {
            xcb_convert_selection(s->c, s->win, e->selection, s->utf8, s->prop, e->timestamp);
            xcb_flush(s->c);
        }
        return true;
    }
    switch (type) {
    case XCB_SELECTION_REQUEST:
        answer(s, (const xcb_selection_request_event_t *)ev);
        return true;
    case XCB_SELECTION_NOTIFY:
        fetch(s, (const xcb_selection_notify_event_t *)ev);
        return true;
    case XCB_SELECTION_CLEAR:
        return true;
    }
    return false;
}

void xsel_free(xsel *s)
{
    free(s->text);
    free(s->last);
    s->text = s->last = NULL;
}
