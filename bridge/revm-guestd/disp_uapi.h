/* The few DRM/KMS kernel UAPI definitions the display helper uses, declared here because the
 * static musl build does not see the kernel's headers and the daemon links no libdrm.
 * Copied (layout and numbers) from Linux include/uapi/drm/drm.h and drm_mode.h, which are
 * a stable ABI; names keep the kernel's spelling with a guest_disp_ prefix on the types. */
#ifndef BRIDGE_REVM_GUESTD_DISP_UAPI_H
#define BRIDGE_REVM_GUESTD_DISP_UAPI_H

#include <stdint.h>
#include <sys/ioctl.h>

#define GUEST_DRM_DISPLAY_MODE_LEN 32

struct guest_drm_modeinfo {          /* struct drm_mode_modeinfo */
    uint32_t clock;
    uint16_t hdisplay, hsync_start, hsync_end, htotal, hskew;
    uint16_t vdisplay, vsync_start, vsync_end, vtotal, vscan;
    uint32_t vrefresh;
    uint32_t flags;
    uint32_t type;
    char name[GUEST_DRM_DISPLAY_MODE_LEN];
};

struct guest_drm_card_res {          /* struct drm_mode_card_res */
    uint64_t fb_id_ptr, crtc_id_ptr, connector_id_ptr, encoder_id_ptr;
    uint32_t count_fbs, count_crtcs, count_connectors, count_encoders;
    uint32_t min_width, max_width, min_height, max_height;
};

struct guest_drm_crtc {              /* struct drm_mode_crtc */
    uint64_t set_connectors_ptr;
    uint32_t count_connectors;
    uint32_t crtc_id, fb_id, x, y, gamma_size, mode_valid;
    struct guest_drm_modeinfo mode;
};

struct guest_drm_encoder {           /* struct drm_mode_get_encoder */
    uint32_t encoder_id, encoder_type, crtc_id, possible_crtcs, possible_clones;
};

struct guest_drm_connector {         /* struct drm_mode_get_connector */
    uint64_t encoders_ptr, modes_ptr, props_ptr, prop_values_ptr;
    uint32_t count_modes, count_props, count_encoders;
    uint32_t encoder_id, connector_id, connector_type, connector_type_id;
    uint32_t connection, mm_width, mm_height, subpixel, pad;
};

struct guest_drm_fb_cmd {            /* struct drm_mode_fb_cmd */
    uint32_t fb_id, width, height, pitch, bpp, depth, handle;
};

struct guest_drm_clip_rect {         /* struct drm_clip_rect */
    unsigned short x1, y1, x2, y2;
};

struct guest_drm_fb_dirty {          /* struct drm_mode_fb_dirty_cmd */
    uint32_t fb_id, flags, color, num_clips;
    uint64_t clips_ptr;
};

struct guest_drm_create_dumb {       /* struct drm_mode_create_dumb */
    uint32_t height, width, bpp, flags, handle, pitch;
    uint64_t size;
};

struct guest_drm_map_dumb {          /* struct drm_mode_map_dumb */
    uint32_t handle, pad;
    uint64_t offset;
};

struct guest_drm_destroy_dumb {      /* struct drm_mode_destroy_dumb */
    uint32_t handle;
};

#define GUEST_DRM_BASE 'd'
#define GUEST_DRM_IOCTL_SET_MASTER _IO(GUEST_DRM_BASE, 0x1e)
#define GUEST_DRM_IOCTL_MODE_GETRESOURCES _IOWR(GUEST_DRM_BASE, 0xA0, struct guest_drm_card_res)
#define GUEST_DRM_IOCTL_MODE_GETCRTC _IOWR(GUEST_DRM_BASE, 0xA1, struct guest_drm_crtc)
#define GUEST_DRM_IOCTL_MODE_SETCRTC _IOWR(GUEST_DRM_BASE, 0xA2, struct guest_drm_crtc)
#define GUEST_DRM_IOCTL_MODE_GETENCODER _IOWR(GUEST_DRM_BASE, 0xA6, struct guest_drm_encoder)
#define GUEST_DRM_IOCTL_MODE_GETCONNECTOR _IOWR(GUEST_DRM_BASE, 0xA7, struct guest_drm_connector)
#define GUEST_DRM_IOCTL_MODE_ADDFB _IOWR(GUEST_DRM_BASE, 0xAE, struct guest_drm_fb_cmd)
#define GUEST_DRM_IOCTL_MODE_RMFB _IOWR(GUEST_DRM_BASE, 0xAF, unsigned int)
#define GUEST_DRM_IOCTL_MODE_DIRTYFB _IOWR(GUEST_DRM_BASE, 0xB1, struct guest_drm_fb_dirty)
#define GUEST_DRM_IOCTL_MODE_CREATE_DUMB _IOWR(GUEST_DRM_BASE, 0xB2, struct guest_drm_create_dumb)
#define GUEST_DRM_IOCTL_MODE_MAP_DUMB _IOWR(GUEST_DRM_BASE, 0xB3, struct guest_drm_map_dumb)
#define GUEST_DRM_IOCTL_MODE_DESTROY_DUMB _IOWR(GUEST_DRM_BASE, 0xB4, struct guest_drm_destroy_dumb)

#define GUEST_DRM_MODE_CONNECTED 1
#define GUEST_DRM_MODE_TYPE_PREFERRED (1u << 3)

/* The layouts the ioctl numbers encode: a wrong field shows here, not as EINVAL in the VM. */
_Static_assert(sizeof(struct guest_drm_modeinfo) == 68, "drm_mode_modeinfo");
_Static_assert(sizeof(struct guest_drm_card_res) == 64, "drm_mode_card_res");
_Static_assert(sizeof(struct guest_drm_crtc) == 104, "drm_mode_crtc");
_Static_assert(sizeof(struct guest_drm_connector) == 80, "drm_mode_get_connector");
_Static_assert(sizeof(struct guest_drm_fb_cmd) == 28, "drm_mode_fb_cmd");
_Static_assert(sizeof(struct guest_drm_fb_dirty) == 24, "drm_mode_fb_dirty_cmd");
_Static_assert(sizeof(struct guest_drm_create_dumb) == 32, "drm_mode_create_dumb");
_Static_assert(sizeof(struct guest_drm_map_dumb) == 16, "drm_mode_map_dumb");

#endif
