// posturepod: parametric pod enclosure with a strap loop or belt clip, a lid and a USB cut-out.
//
// layout = "stacked" (default), two layers inside a rounded box:
//   layer 1 (on the floor, skin side): LiPo cell, coin motor (in a locating ring), slide switch
//   layer 2 (on a printed tray resting on ledges): MCU board (USB end against the -X wall) and
//            the IMU breakout, both taped flat to the tray
// layout = "flat": the same two rows side by side on the floor (thinner, larger footprint).
// The strap loop / clip is under the floor; the lid closes the top (press fit on a lip).
//
// Render:  openscad -o box.stl  -D 'part="box"'  pod_enclosure.scad
//          openscad -o lid.stl  -D 'part="lid"'  pod_enclosure.scad
//          openscad -o tray.stl -D 'part="tray"' pod_enclosure.scad
//          (part="all" lays out the three parts side by side, ready to print; part="assembly"
//           shows the closed pod)
// Units: mm. Print in PETG or PLA, 0.2 mm layers, 3 perimeters, box with the strap loop on the
// bed (as modelled: the floor bridges over the strap channel), lid and tray flat side down.
//
// ---------------------------------------------------------------------------------------
// Presets: copy one block over the parameters below (or pass them with -D).
//
// Seeed XIAO ESP32S3 / XIAO ESP32C3 + Adafruit LSM6DSOX (4438) + 400 mAh 602030 cell (default)
//   board_l = 21.0; board_w = 17.8; board_h = 4.5; board_usb_z = 2.6;
//   usb_cut_w = 12.5; usb_cut_h = 7.0;              // USB-C plug overmould
//   imu_l = 25.4; imu_w = 17.8; imu_h = 4.6;
//   battery_l = 30.0; battery_w = 20.0; battery_h = 6.0;
//
// Raspberry Pi Pico W / Pico 2 W + Adafruit LSM6DSOX + 400 mAh cell + TP4056 module
//   board_l = 51.0; board_w = 21.0; board_h = 4.0; board_usb_z = 2.4;
//   usb_cut_w = 11.5; usb_cut_h = 7.0;              // micro-USB plug overmould
//   imu_l = 25.4; imu_w = 17.8; imu_h = 4.6;
//   battery_l = 30.0; battery_w = 20.0; battery_h = 6.0;
//   extra_l1 = 26.0;                                // TP4056 module (26 x 17 mm) next to the cell
//
// GY-521 (MPU-6050) instead of the Adafruit board: imu_l = 21.0; imu_w = 16.0; imu_h = 3.5;
// Glasses-arm clip for the head pod:  clip_style = "clip"; clip_w = 8; clip_gap = 2.5;
// ---------------------------------------------------------------------------------------

/* [What to render] */
part = "all";             // "all" | "box" | "lid" | "tray" | "assembly"

/* [MCU board] */
board_l = 21.0;           // along X; the USB connector end faces the -X wall
board_w = 17.8;           // along Y
board_h = 4.5;            // PCB + tallest part on top (shield can, USB connector)
board_usb_z = 2.6;        // USB connector centre above the underside of the PCB

/* [IMU breakout] */
imu_l = 25.4;
imu_w = 17.8;
imu_h = 4.6;              // PCB + STEMMA QT / header height

/* [Battery] */
battery_l = 30.0;         // measure your cell: pouch cells swell a little, add 0.5 mm
battery_w = 20.0;
battery_h = 6.0;

/* [Motor] */
motor_d = 10.0;           // coin ERM diameter
motor_h = 3.0;            // coin ERM thickness incl. adhesive pad

/* [Slide switch] */
switch_l = 8.6;           // SS-12D00 body length (along Y, the slide direction)
switch_d = 4.5;           // body depth incl. pins (along X)
switch_h = 3.6;
switch_slot_w = 5.0;      // actuator slot in the +X wall
switch_slot_h = 2.6;

/* [Layout] */
layout = "stacked";       // "stacked": cell under a tray carrying board + IMU (small footprint,
                          //            ~20 mm tall); "flat": everything on the floor in two rows
                          //            (~12 mm tall, twice the footprint: best for the pelvis pod)

/* [Shell] */
wall = 1.6;               // side wall thickness
floor_t = 1.6;            // floor thickness (motor side, against the body)
lid_t = 1.6;              // lid plate thickness
lid_lip = 2.0;            // depth of the lid's locating lip
fit = 0.15;               // radial play of the lid lip and tray in the box
clearance = 0.4;          // play around boards, cell and motor
gap = 1.5;                // space between parts in a layer (wires)
wire_space = 2.5;         // head room above the tallest part on the tray (must be >= lid_lip)
tray_t = 1.2;             // tray thickness
ledge = 1.2;              // how far the tray ledges stick out of the long walls
corner_r = 3.0;           // outer corner radius
extra_l1 = 0.0;           // extra length in layer 1 (e.g. a TP4056 module on a Pico pod)

/* [USB cut-out] */
usb_cut_w = 12.5;         // width of the opening (fit the plug overmould, not just the socket)
usb_cut_h = 7.0;          // height of the opening
usb_y_offset = 0.0;       // shift of the connector from the board's centre line

/* [Strap loop / clip] */
clip_style = "loop";      // "loop" (strap threads through, pod flat on the body) | "clip" | "none"
clip_w = 26.0;            // strap width + 1 mm (25 mm strap)
clip_gap = 3.5;           // strap thickness + 1 mm
clip_len = 14.0;          // length of the loop / spring clip tongue along X (clip: fraction below)
clip_t = 2.0;             // thickness of the loop walls / clip tongue
clip_tongue = 0.8;        // clip only: tongue length as a fraction of the box length

/* [LED window] */
led_hole_d = 0.0;         // 0 = none; else a hole in the lid above the board LED
led_x = 3.0;              // LED position on the board, from its USB end
led_y = 4.0;              // LED position on the board, from its -Y edge

$fn = 48;

// ------------------------------------------------------------------ derived dimensions
flat = layout == "flat";
layer1_l = battery_l + gap + motor_d + gap + switch_d + extra_l1;   // cell, motor, switch
layer2_l = board_l + gap + imu_l;                                   // board, IMU
row_a_w = max(board_w, imu_w);                                      // board + IMU row
row_b_w = max(max(battery_w, motor_d), switch_l);                   // cell + motor + switch row
in_l = max(layer1_l, layer2_l) + 2 * clearance;
in_w = (flat ? row_a_w + gap + row_b_w : max(row_a_w, row_b_w)) + 2 * clearance;
l1_h = max(max(battery_h, motor_h), switch_h);
tray_z = flat ? 0 : l1_h + clearance + 2 * ledge;   // underside of the tray, above the floor
tray_top = flat ? 0 : tray_z + tray_t;              // where the board and IMU sit
in_h = flat ? max(l1_h, max(board_h, imu_h)) + wire_space
            : tray_top + max(board_h, imu_h) + wire_space;
out_l = in_l + 2 * wall;
out_w = in_w + 2 * wall;
box_h = floor_t + in_h;

row_a_yc = flat ? wall + clearance + row_a_w / 2 : out_w / 2;              // Y centre lines
row_b_yc = flat ? wall + clearance + row_a_w + gap + row_b_w / 2 : out_w / 2;
usb_z = floor_t + tray_top + board_usb_z;           // USB opening centre (outer coordinates)
usb_y = row_a_yc + usb_y_offset;

assert(wire_space >= lid_lip, "wire_space must be >= lid_lip or the lid hits the boards");
assert(corner_r < min(out_l, out_w) / 2, "corner_r too large for this box");
assert(clip_style == "loop" || clip_style == "clip" || clip_style == "none", "bad clip_style");
assert(layout == "stacked" || layout == "flat", "bad layout");

echo(str("posturepod enclosure outside: ", out_l, " x ", out_w, " x ", box_h + lid_t,
         " mm (without the clip), inside ", in_l, " x ", in_w, " x ", in_h));

// ------------------------------------------------------------------ helpers
module rounded_block(l, w, h, r) {
    linear_extrude(height = h)
        offset(r = r) offset(delta = -r) square([l, w]);
}

module stadium_x(len, w, h) {
    // an opening through a wall normal to X: width w (Y), height h (Z), rounded ends
    r = min(w, h) / 2;
    rotate([0, 90, 0])
        linear_extrude(height = len)
            offset(r = r) offset(delta = -r) square([h, w], center = true);
}

module usb_opening() {
    translate([-1, usb_y, usb_z]) stadium_x(wall + 2, usb_cut_w, usb_cut_h);
}

module switch_opening() {
    translate([out_l - wall - 1, row_b_yc, floor_t + l1_h / 2])
        stadium_x(wall + 2, switch_slot_w, switch_slot_h);
}

// ------------------------------------------------------------------ box
module ledges() {
    // two ledges along the long walls; the chamfer below makes them print without support
    for (side = [0, 1]) {
        y0 = side == 0 ? wall : wall + in_w - ledge;
        yw = side == 0 ? wall : wall + in_w;        // the wall face the ledge grows from
        hull() {
            translate([wall, y0, floor_t + tray_z - ledge]) cube([in_l, ledge, ledge]);
            translate([wall, side == 0 ? yw - 0.01 : yw, floor_t + tray_z - 2 * ledge])
                cube([in_l, 0.01, 0.01]);
        }
    }
}

module motor_ring() {
    cx = wall + clearance + battery_l + gap + motor_d / 2;
    translate([cx, row_b_yc, floor_t - 0.01])
        difference() {
            cylinder(d = motor_d + 2 * clearance + 2 * 1.2, h = 1.0);
            translate([0, 0, -1]) cylinder(d = motor_d + 2 * clearance, h = 3);
        }
}

module strap_loop() {
    W = clip_w + 2 * clip_t;
    x0 = (out_l - clip_len) / 2;
    difference() {
        translate([x0, out_w / 2 - W / 2, -(clip_gap + clip_t)])
            cube([clip_len, W, clip_gap + 2 * clip_t]);
        translate([x0 - 1, out_w / 2 - clip_w / 2, -clip_gap])
            cube([clip_len + 2, clip_w, clip_gap]);
    }
}

module spring_clip() {
    tl = clip_tongue * out_l;
    x_root = out_l - corner_r - 4;                  // the tongue hangs from the +X end
    // root block
    translate([x_root, out_w / 2 - clip_w / 2, -clip_gap - 0.01])
        cube([4, clip_w, clip_gap + floor_t / 2]);
    // tongue
    translate([x_root + 4 - tl, out_w / 2 - clip_w / 2, -(clip_gap + clip_t)])
        cube([tl, clip_w, clip_t]);
    // retaining bump at the free end, pointing at the floor
    translate([x_root + 4 - tl + 1.5, out_w / 2 - clip_w / 2, -clip_gap - 0.01])
        rotate([-90, 0, 0]) cylinder(r = clip_gap * 0.4, h = clip_w, $fn = 24);
}

module box() {
    difference() {
        rounded_block(out_l, out_w, box_h, corner_r);
        translate([wall, wall, floor_t]) cube([in_l, in_w, in_h + 1]);
        usb_opening();
        switch_opening();
    }
    if (!flat) ledges();
    motor_ring();
    if (clip_style == "loop") strap_loop();
    if (clip_style == "clip") spring_clip();
}

// ------------------------------------------------------------------ lid (modelled in place)
module lid_in_place() {
    difference() {
        union() {
            translate([0, 0, box_h]) rounded_block(out_l, out_w, lid_t, corner_r);
            translate([wall + fit, wall + fit, box_h - lid_lip])
                difference() {
                    cube([in_l - 2 * fit, in_w - 2 * fit, lid_lip + 0.01]);
                    translate([1.2, 1.2, -1])
                        cube([in_l - 2 * fit - 2.4, in_w - 2 * fit - 2.4, lid_lip + 2]);
                }
        }
        usb_opening();                                 // the lip must not block the plug
        if (led_hole_d > 0)
            translate([wall + clearance + led_x,
                       row_a_yc - board_w / 2 + led_y,
                       box_h - lid_lip - 1])
                cylinder(d = led_hole_d, h = lid_lip + lid_t + 2);
    }
}

module lid_for_print() {
    // flip the lid onto its outer face
    translate([0, out_w, box_h + lid_t]) rotate([180, 0, 0]) lid_in_place();
}

// ------------------------------------------------------------------ tray
module tray() {
    tl = in_l - 2 * fit;
    tw = in_w - 2 * fit;
    difference() {
        cube([tl, tw, tray_t]);
        // wire pass-through between the layers, at the far (+X) end
        translate([tl - 4, tw / 2 - 4, -1]) cube([3, 8, tray_t + 2]);
        // outline marks where the board and the IMU go (0.4 mm deep)
        translate([clearance, (tw - board_w) / 2, tray_t - 0.4])
            difference() {
                cube([board_l, board_w, 1]);
                translate([0.6, 0.6, -1]) cube([board_l - 1.2, board_w - 1.2, 3]);
            }
        translate([clearance + board_l + gap, (tw - imu_w) / 2, tray_t - 0.4])
            difference() {
                cube([imu_l, imu_w, 1]);
                translate([0.6, 0.6, -1]) cube([imu_l - 1.2, imu_w - 1.2, 3]);
            }
    }
}

// ------------------------------------------------------------------ layout
if (part == "box") {
    box();
} else if (part == "lid") {
    lid_for_print();
} else if (part == "tray") {
    if (flat) echo("layout = flat has no tray: tape the board and IMU to the floor");
    else tray();
} else if (part == "assembly") {
    box();
    color("SteelBlue", 0.6) lid_in_place();
    if (!flat) color("Orange") translate([wall + fit, wall + fit, floor_t + tray_z]) tray();
} else {
    box();
    translate([0, out_w + max(clip_w, out_w) / 2 + 8, 0]) lid_for_print();
    if (!flat) translate([0, 2 * out_w + max(clip_w, out_w) / 2 + 16, 0]) tray();
}
