/* The host's records (agent.h): input through XTest (real device events, which programs like
 * xterm accept, unlike SendEvent), focus, resize, close and clipboard. Ids the agent does not
 * track are ignored: the host may still send for a window that just went away. */
#include "agent.h"

#include <stdlib.h>
#include <string.h>
#include <xcb/xtest.h>

#define WA_SHIFT_L 0xffe1u

static void load_keymap(wa *a)
{
    const xcb_setup_t *setup = xcb_get_setup(a->c);
    a->min_kc = setup->min_keycode, a->max_kc = setup->max_keycode;
    free(a->keymap);
    a->keymap = NULL;
    xcb_get_keyboard_mapping_reply_t *r = xcb_get_keyboard_mapping_reply(
        a->c, xcb_get_keyboard_mapping(a->c, a->min_kc, (uint8_t)(a->max_kc - a->min_kc + 1)), NULL);
    if (!r)
        return;
    a->per_kc = r->keysyms_per_keycode;
    size_t n = (size_t)xcb_get_keyboard_mapping_keysyms_length(r);
    a->keymap = malloc(n * sizeof *a->keymap);
    if (a->keymap)
        memcpy(a->keymap, xcb_get_keyboard_mapping_keysyms(r), n * sizeof *a->keymap);
    free(r);
}

/* keycode and column (0 plain, 1 shifted) of keysym; 0 when the keymap lacks it. */
static xcb_keycode_t find_key(wa *a, uint32_t keysym, int *col)
{
    if (!a->keymap || !keysym)
        return 0;
    for (int c = 0; c < 2 && c < a->per_kc; c++)
        for (int kc = a->min_kc; kc <= a->max_kc; kc++)
            if (a->keymap[(size_t)(kc - a->min_kc) * a->per_kc + (size_t)c] == keysym) {
                *col = c;
                return (xcb_keycode_t)kc;
            }
    return 0;
}

/* A keysym the guest's keymap lacks (a character from the host's layout): bound to a spare
 * keycode, the way xdotool does it. */
static xcb_keycode_t bind_spare(wa *a, uint32_t keysym)
{
    if (!a->keymap)
        return 0;
    for (int kc = a->max_kc; kc >= a->min_kc; kc--) {
        xcb_keysym_t *row = &a->keymap[(size_t)(kc - a->min_kc) * a->per_kc];
        bool empty = true;
        for (int c = 0; c < a->per_kc; c++)
            empty &= row[c] == 0;
        if (!empty)
            continue;
        xcb_keysym_t syms[8] = {0};
        int per = a->per_kc < 8 ? a->per_kc : 8;
        for (int c = 0; c < per; c++)
            syms[c] = keysym;
        xcb_change_keyboard_mapping(a->c, 1, (xcb_keycode_t)kc, (uint8_t)per, syms);
        xcb_flush(a->c);
        for (int c = 0; c < per; c++)
            row[c] = keysym;
        return (xcb_keycode_t)kc;
    }
    return 0;
}

void wa_input_init(wa *a)
{
    load_keymap(a);
    int col;
    a->shift_kc = find_key(a, WA_SHIFT_L, &col);
}

static void fake(wa *a, uint8_t type, uint8_t detail, int16_t x, int16_t y)
{
    xcb_test_fake_input(a->c, type, detail, XCB_CURRENT_TIME, type == XCB_MOTION_NOTIFY ? a->root : XCB_NONE,
                        x, y, 0);
}

static void focus(wa *a, wa_window *w)
{
    if (w->override_redirect)
        return; /* menus take the pointer grab themselves */
    uint32_t above = XCB_STACK_MODE_ABOVE;
    xcb_configure_window(a->c, w->id, XCB_CONFIG_WINDOW_STACK_MODE, &above);
    xcb_set_input_focus(a->c, XCB_INPUT_FOCUS_POINTER_ROOT, w->id, XCB_CURRENT_TIME);
}

/* The host sends the keysym its own layout produced (Shift included) and its modifier keys
 * as keys: the guest gets that symbol whatever its layout, so Shift is added or taken away
 * around a key when the guest's keymap needs the other level for it. */
static void key(wa *a, wa_window *w, bool down, uint32_t keysym)
{
    int col = 0;
    xcb_keycode_t kc = find_key(a, keysym, &col);
    if (!kc)
        kc = bind_spare(a, keysym), col = 0;
    if (!kc)
        return;
    xcb_get_input_focus_reply_t *f = xcb_get_input_focus_reply(a->c, xcb_get_input_focus(a->c), NULL);
    if (f && f->focus != w->id && !w->override_redirect)
        focus(a, w);
    free(f);
    if (keysym == WA_SHIFT_L || keysym == 0xffe2u) {
        a->shift_held[keysym == 0xffe2u] = down ? kc : 0;
        fake(a, down ? XCB_KEY_PRESS : XCB_KEY_RELEASE, kc, 0, 0);
        return;
    }
    bool shifted = a->shift_held[0] || a->shift_held[1];
    /* Does the other Shift level of this key give another symbol? (not for keypad, space...) */
    size_t row = (size_t)(kc - a->min_kc) * a->per_kc;
    bool levels = a->per_kc >= 2 && a->keymap[row + 1] && a->keymap[row + 1] != a->keymap[row];
    bool add = down && col == 1 && !shifted && a->shift_kc;
    bool drop = down && col == 0 && shifted && levels;
    if (add)
        fake(a, XCB_KEY_PRESS, a->shift_kc, 0, 0);
    for (int i = 0; drop && i < 2; i++)
        if (a->shift_held[i])
            fake(a, XCB_KEY_RELEASE, a->shift_held[i], 0, 0);
    fake(a, down ? XCB_KEY_PRESS : XCB_KEY_RELEASE, kc, 0, 0);
    if (add)
        fake(a, XCB_KEY_RELEASE, a->shift_kc, 0, 0);
    for (int i = 0; drop && i < 2; i++)
        if (a->shift_held[i])
            fake(a, XCB_KEY_PRESS, a->shift_held[i], 0, 0);
}

static void pointer(wa *a, wa_window *w, const proto_win_msg *m)
{
    int64_t rx = (int64_t)w->x + m->x, ry = (int64_t)w->y + m->y;
    if (rx < -32768 || rx > 32767 || ry < -32768 || ry > 32767)
        return;
    fake(a, XCB_MOTION_NOTIFY, 0, (int16_t)rx, (int16_t)ry);
    if (m->flags) {
        if (m->down)
            focus(a, w);
        fake(a, m->down ? XCB_BUTTON_PRESS : XCB_BUTTON_RELEASE, m->flags, 0, 0);
    }
}

static bool takes_delete(wa *a, xcb_window_t id)
{
    xcb_get_property_reply_t *r = xcb_get_property_reply(
        a->c, xcb_get_property(a->c, 0, id, a->wm_protocols, XCB_ATOM_ATOM, 0, 32), NULL);
    bool yes = false;
    if (r && r->format == 32) {
        xcb_atom_t *v = xcb_get_property_value(r);
        for (int i = 0; i < xcb_get_property_value_length(r) / 4; i++)
            yes |= v[i] == a->wm_delete;
    }
    free(r);
    return yes;
}

static void close_window(wa *a, wa_window *w)
{
    if (takes_delete(a, w->id)) {
        xcb_client_message_event_t ev = {0};
        ev.response_type = XCB_CLIENT_MESSAGE;
        ev.format = 32;
        ev.window = w->id;
        ev.type = a->wm_protocols;
        ev.data.data32[0] = a->wm_delete;
        ev.data.data32[1] = XCB_CURRENT_TIME;
        xcb_send_event(a->c, 0, w->id, XCB_EVENT_MASK_NO_EVENT, (const char *)&ev);
    } else {
        xcb_kill_client(a->c, w->id);
    }
}

void wa_host_record(wa *a, const proto_win_msg *m)
{
    if (m->type == PROTO_WIN_CLIPBOARD) {
        if (a->have_sel)
            xsel_set(&a->sel, m->s1.s, m->s1.n);
        return;
    }
    if (m->type == PROTO_WIN_REFRESH) {
        wa_refresh(a, m->id);
        return;
    }
    wa_window *w = wa_find(a, m->id);
    if (!w)
        return;
    switch (m->type) {
    case PROTO_WIN_KEY:
        key(a, w, m->flags, m->aux);
        break;
    case PROTO_WIN_POINTER:
        pointer(a, w, m);
        break;
    case PROTO_WIN_FOCUS:
        if (m->flags)
            focus(a, w);
        break;
    case PROTO_WIN_RESIZE: {
        uint32_t v[2] = {m->w, m->h};
        xcb_configure_window(a->c, w->id, XCB_CONFIG_WINDOW_WIDTH | XCB_CONFIG_WINDOW_HEIGHT, v);
        break;
    }
    case PROTO_WIN_CLOSE:
        close_window(a, w);
        break;
    }
    xcb_flush(a->c);
}
