// posturepod: parametric pod enclosure: a box printed floor-down, a snap-on lid, a tray for the
// board and the IMU, strap slots at floor level.
//
// layout = "stacked" (default), two layers inside a rounded box:
//   layer 1 (on the floor, skin side): LiPo cell (+ its protection board and leads), coin motor
//            in a locating ring, slide switch with its actuator through the +X wall
//   layer 2 (on a printed tray resting on chamfered ledges): MCU board (USB end at the -X wall,
//            raised on four corner pads so wires can reach the pads underneath, e.g. the XIAO's
//            BAT+/BAT-) and the IMU breakout; the tray has a window under the board
// layout = "flat": the tray lies on the floor beside the cell row (thinner, larger footprint).
// The floor is one flat plate on the print bed; the strap goes through a slot in a tab at each
// end, at floor level, and runs under the floor. The lid snaps onto the box (a ridge on its lip
// clicks into a groove in the long walls) and carries the radio antenna on its inside, as far
// from the skin and the cell as the box allows.
//
// Render:  openscad -o box.stl  -D 'part="box"'  pod_enclosure.scad
//          openscad -o lid.stl  -D 'part="lid"'  pod_enclosure.scad
//          openscad -o tray.stl -D 'part="tray"' pod_enclosure.scad
//          (part="all" lays out the three parts ready to print; part="assembly" shows the pod
//           closed). Every part renders in both layouts.
// Units: mm. Print in PETG or PLA, 0.2 mm layers: the box floor down, the lid outer face down,
// the tray flat. No support is needed (checked by tests/test_enclosure.py).
//
// The echo lines starting with "fit" give the placed parts, openings and clearances; the tests
// read them, so the fits are checked on the model's own numbers.
//
// ---------------------------------------------------------------------------------------
// Presets (README.md, "Presets"): pass them with -D.
// Seeed XIAO ESP32S3 / ESP32C3 + Adafruit LSM6DSOX (4438) + Adafruit 1578 500 mAh cell: defaults.
// Raspberry Pi Pico W / Pico 2 W + TP4056 module: board_l=51 board_w=21 board_h=4
//   board_usb_z=2.4 usb_cut_w=11.5 usb_cut_h=7 extra_l1=26
// ---------------------------------------------------------------------------------------

/* [What to render] */
part = "all";             // "all" | "box" | "lid" | "tray" | "assembly"
layout = "stacked";       // "stacked" | "flat"

/* [MCU board] */
board_l = 21.0;           // along X; the USB connector end faces the -X wall
board_w = 17.8;           // along Y
board_h = 4.5;            // PCB + tallest part on top (shield can, USB connector)
board_usb_z = 2.6;        // USB connector centre above the underside of the PCB
board_lift = 1.5;         // corner pads under the board: room for wires on its underside pads

/* [IMU breakout] */
imu_l = 25.4;
imu_w = 17.8;
imu_h = 4.6;              // PCB + STEMMA QT / header height

/* [Battery] */
// Adafruit product 1578: LiPo 3.7 V 500 mAh with protection PCB and JST-PH lead,
// 29 x 36 x 4.75 mm, 10.5 g (Adafruit product page 1578, "Technical Details").
battery_l = 36.0;         // along X; the end with the protection PCB and leads faces +X
battery_w = 29.0;
battery_h = 4.75;
battery_swell = 0.5;      // allowance on every dimension (pouch cells vary and swell)
battery_leads = 4.0;      // room at the +X end for the folded protection PCB and the lead exit

/* [Motor] */
motor_d = 10.0;           // coin ERM diameter (Adafruit 1201: 10 mm)
motor_h = 3.0;            // coin ERM thickness incl. adhesive pad (Adafruit 1201: 2.7 mm)
motor_ring_t = 1.2;       // wall of the locating ring
motor_ring_h = 1.0;       // height of the locating ring

/* [Slide switch] */
switch_l = 8.6;           // SS-12D00G3 body length (along Y, the slide direction)
switch_d = 4.5;           // body depth incl. pins (along X; the body lies on its side)
switch_h = 3.6;           // body height as it lies on the floor
switch_act_z = 1.8;       // actuator centre above the floor (centred on the body's face)
switch_act_w = 1.5;       // actuator width (along the slide)
switch_act_h = 1.5;       // actuator thickness (Z)
switch_act_len = 3.0;     // actuator length out of the body ("G3" = 3 mm)
switch_travel = 2.0;      // actuator travel between the two positions
switch_slot_play = 0.3;   // play around the actuator in the slot

/* [Shell] */
wall = 1.6;               // side wall thickness
floor_t = 1.6;            // floor thickness (motor side, against the body)
lid_t = 1.6;              // lid plate thickness
lid_lip = 2.5;            // depth of the lid's lip inside the walls
lip_t = 1.2;              // lip wall thickness
snap = 0.3;               // snap ridge height on the lip (interference = snap - fit)
fit = 0.15;               // play of the lid lip and the tray in the box
clearance = 0.4;          // play around the board, cell and motor
gap = 1.5;                // space between parts in a layer (wires)
wire_space = 3.1;         // head room above the tallest part (>= lid_lip + antenna_t)
tray_t = 1.2;             // tray thickness
ledge = 1.2;              // how far the tray ledges protrude
corner_r = 3.0;           // outer corner radius
extra_l1 = 0.0;           // extra length in layer 1 (e.g. 26 for a TP4056 module)
pry_w = 6.0;              // fingernail notch in the +X wall top, to open the lid

/* [USB cut-out] */
usb_cut_w = 12.5;         // width of the opening (fit the plug overmould, not just the socket)
usb_cut_h = 7.0;          // height of the opening
usb_y_offset = 0.0;       // shift of the connector from the board's centre line
usb_wall = 3.0;           // wall left above the opening (>= lid_lip + 0.5, so the lip is whole)

/* [Strap] */
strap = "slots";          // "slots": a slotted tab at each end, at floor level | "none" (tape)
strap_w = 26.0;           // strap width + 1 mm (25 mm strap)
strap_slot = 3.5;         // slot length along X: strap thickness + 1.5 mm
tab_bar = 3.5;            // width of the bar outside the slot
tab_t = 2.4;              // tab thickness (on the bed)
tab_gap = 1.0;            // between the box wall and the slot (the strap turns here)

/* [LED window] */
led_x = 4.5;              // window centre from the board's USB end (XIAO: both LEDs near USB-C)
led_y = 8.9;              // window centre from the board's -Y edge
led_win_l = 6.0;          // window length along X (0 = no window)
led_win_w = 12.0;         // window width along Y
led_skin = 0.4;           // lid skin left over the window (2 layers: light shows through a
                          // light-coloured print and sweat stays out); 0 = open hole

/* [Antenna] */
// The flexible U.FL antenna that comes with the XIAO: Seeed does not publish its size, so
// measure yours. The model puts it at the +X end of the lid, or along the lid's +Y side
// beside the LED window when it is too long for the end, and refuses one that fits neither
// (it echoes both spaces; stacked: 45.75 x 26.6 or 52.3 x 6.8 mm).
antenna_l = 35.0;         // length (X) of the flat part that is stuck down
antenna_w = 10.0;         // width (Y)
antenna_t = 0.6;          // incl. its adhesive

$fn = 48;

// ------------------------------------------------------------------ derived dimensions
flat = layout == "flat";
cell_l = battery_l + battery_swell;
cell_w = battery_w + battery_swell;
cell_h = battery_h + battery_swell;
ring_id = motor_d + 2 * clearance;
ring_od = ring_id + 2 * motor_ring_t;
col_l = max(ring_od, switch_d);                                      // motor + switch column
layer1_l = cell_l + battery_leads + extra_l1 + gap + col_l;
layer2_l = board_l + gap + imu_l;
row_a_w = max(board_w, imu_w);                                       // board + IMU row
row_b_w = max(cell_w, ring_od + gap + switch_l);                     // cell / motor + switch
in_l = max(layer1_l, layer2_l) + 2 * clearance;
in_w = (flat ? row_a_w + gap + row_b_w : max(row_a_w, row_b_w)) + 2 * clearance;
l1_h = max(max(cell_h, motor_h), switch_h);
ledge_z = flat ? 0 : l1_h + clearance;              // bottom of the ledge chamfer (cavity z)
tray_z = flat ? 0 : ledge_z + 2 * ledge;            // underside of the tray (cavity z)
tray_top = tray_z + tray_t;
board_z = tray_top + board_lift;                    // underside of the board PCB (cavity z)
parts_top = max(max(board_z + board_h, tray_top + imu_h), l1_h);
usb_zc = board_z + board_usb_z;                     // connector centre (cavity z)
in_h = max(parts_top + wire_space, usb_zc + usb_cut_h / 2 + usb_wall);
out_l = in_l + 2 * wall;
out_w = in_w + 2 * wall;
box_h = floor_t + in_h;

// Y centre lines (outer coordinates)
row_a_yc = flat ? wall + clearance + row_a_w / 2 : out_w / 2;
row_b_yc = flat ? wall + clearance + row_a_w + gap + row_b_w / 2 : out_w / 2;
row_b_y0 = row_b_yc - row_b_w / 2;

// layer 1 (outer coordinates)
cell_x0 = wall + clearance;
cell_y0 = row_b_yc - cell_w / 2;
motor_x = wall + in_l - clearance - col_l / 2;
motor_y = row_b_y0 + ring_od / 2;
switch_y0 = row_b_y0 + row_b_w - switch_l;
switch_yc = switch_y0 + switch_l / 2;
switch_zc = floor_t + switch_act_z;
slot_w = switch_act_w + switch_travel + 2 * switch_slot_play;
slot_h = switch_act_h + 2 * switch_slot_play;

// tray (outer coordinates)
tray_x0 = wall + fit;
tray_y0 = wall + fit;
tray_l = in_l - 2 * fit;
tray_w = flat ? clearance + row_a_w + gap / 2 - fit : in_w - 2 * fit;
board_x0 = wall + clearance;
board_y0 = row_a_yc - board_w / 2;
imu_x0 = board_x0 + board_l + gap;
imu_y0 = row_a_yc - imu_w / 2;
usb_y = row_a_yc + usb_y_offset;
usb_z = floor_t + usb_zc;

// lid features (outer coordinates)
lip_z0 = box_h - lid_lip;
snap_zc = box_h - lid_lip / 2;
snap_h = lid_lip * 0.5;
snap_len = in_l - 2 * fit - 2 * corner_r;
led_cx = board_x0 + led_x;
led_cy = board_y0 + led_y;
// antenna: inside the lip and 0.5 mm off it and off the LED window, either across the +X
// end (beside the window's X range) or along the +Y side (beside the window's Y range)
ant_in_x0 = wall + fit + lip_t + 0.5;
ant_in_y0 = wall + fit + lip_t + 0.5;
ant_in_y1 = wall + in_w - fit - lip_t - 0.5;
ant_x1 = wall + in_l - fit - lip_t - 0.5;
ant_win_x1 = led_win_l > 0 ? led_cx + led_win_l / 2 + 0.5 : ant_in_x0;
ant_win_y1 = led_win_l > 0 ? led_cy + led_win_w / 2 + 0.5 : ant_in_y0;
ant_end_max = [ant_x1 - ant_win_x1, ant_in_y1 - ant_in_y0];
ant_side_max = [ant_x1 - ant_in_x0, ant_in_y1 - ant_win_y1];
ant_side = antenna_l > ant_end_max[0] + 1e-4 || antenna_w > ant_end_max[1] + 1e-4;
ant_x0 = ant_x1 - antenna_l;
ant_y0 = ant_side ? ant_in_y1 - antenna_w
                  : min(max(row_a_yc - antenna_w / 2, ant_in_y0), ant_in_y1 - antenna_w);

// strap tabs
tab_w = strap_w + 2 * tab_bar;
tab_l = tab_gap + strap_slot + tab_bar;

assert(wire_space >= lid_lip + antenna_t, "wire_space must be >= lid_lip + antenna_t");
assert((antenna_l <= ant_end_max[0] + 1e-4 && antenna_w <= ant_end_max[1] + 1e-4)
       || (antenna_l <= ant_side_max[0] + 1e-4 && antenna_w <= ant_side_max[1] + 1e-4),
       str("the antenna (", antenna_l, " x ", antenna_w, " mm) does not fit inside the lid: ",
           "at most ", ant_end_max[0], " x ", ant_end_max[1], " mm at the +X end or ",
           ant_side_max[0], " x ", ant_side_max[1], " mm beside the LED window"));
assert(usb_wall >= lid_lip + 0.5, "usb_wall must be >= lid_lip + 0.5 or the lip is cut");
assert(corner_r < min(out_l, out_w) / 2, "corner_r too large for this box");
assert(strap == "slots" || strap == "none", "bad strap");
assert(layout == "stacked" || layout == "flat", "bad layout");
assert(part == "all" || part == "box" || part == "lid" || part == "tray" || part == "assembly",
       "bad part");

echo(str("posturepod enclosure outside: ", out_l, " x ", out_w, " x ", box_h + lid_t,
         " mm with the lid, ", out_l + (strap == "slots" ? 2 * tab_l : 0),
         " mm long with the strap tabs; inside ", in_l, " x ", in_w, " x ", in_h));

// ------------------------------------------------------------------ fit report (for the tests)
// Boxes are [[x0, y0, z0], [x1, y1, z1]] in the box's coordinates (z = 0 is the bed and the skin).
echo("fit", "layout", layout);
echo("fit", "strap", strap);
echo("fit", "clearance", clearance);
echo("fit", "fit", fit);
echo("fit", "snap", snap);
echo("fit", "lid_lip", lid_lip);
echo("fit", "usb_wall", usb_wall);
echo("fit", "box_h", box_h);
echo("fit", "outside", [out_l, out_w, box_h + lid_t]);
echo("fit", "cavity", [[wall, wall, floor_t], [wall + in_l, wall + in_w, box_h]]);
echo("fit", "cell", [[cell_x0, cell_y0, floor_t], [cell_x0 + cell_l, cell_y0 + cell_w,
                                                    floor_t + cell_h]]);
echo("fit", "cell_leads", [[cell_x0 + cell_l, cell_y0, floor_t],
                           [cell_x0 + cell_l + battery_leads, cell_y0 + cell_w, floor_t + cell_h]]);
echo("fit", "motor", [[motor_x - motor_d / 2, motor_y - motor_d / 2, floor_t],
                      [motor_x + motor_d / 2, motor_y + motor_d / 2, floor_t + motor_h]]);
echo("fit", "motor_ring", [[motor_x - ring_od / 2, motor_y - ring_od / 2, floor_t],
                           [motor_x + ring_od / 2, motor_y + ring_od / 2, floor_t + motor_ring_h]]);
echo("fit", "motor_ring_id", ring_id);
echo("fit", "motor_d", motor_d);
echo("fit", "switch", [[wall + in_l - switch_d, switch_y0, floor_t],
                       [wall + in_l, switch_y0 + switch_l, floor_t + switch_h]]);
echo("fit", "switch_actuator", [[wall + in_l, switch_yc - (switch_act_w + switch_travel) / 2,
                                 switch_zc - switch_act_h / 2],
                                [wall + in_l + switch_act_len,
                                 switch_yc + (switch_act_w + switch_travel) / 2,
                                 switch_zc + switch_act_h / 2]]);
echo("fit", "switch_slot", [[wall + in_l, switch_yc - slot_w / 2, switch_zc - slot_h / 2],
                            [out_l, switch_yc + slot_w / 2, switch_zc + slot_h / 2]]);
echo("fit", "ledge_bottom", flat ? -1 : floor_t + ledge_z);
echo("fit", "tray", [[tray_x0, tray_y0, floor_t + tray_z],
                     [tray_x0 + tray_l, tray_y0 + tray_w, floor_t + tray_top]]);
echo("fit", "board", [[board_x0, board_y0, floor_t + board_z],
                      [board_x0 + board_l, board_y0 + board_w, floor_t + board_z + board_h]]);
echo("fit", "imu", [[imu_x0, imu_y0, floor_t + tray_top],
                    [imu_x0 + imu_l, imu_y0 + imu_w, floor_t + tray_top + imu_h]]);
echo("fit", "usb_connector", [usb_y, usb_z]);
echo("fit", "usb_opening", [[0, usb_y - usb_cut_w / 2, usb_z - usb_cut_h / 2],
                            [wall, usb_y + usb_cut_w / 2, usb_z + usb_cut_h / 2]]);
echo("fit", "lid_lip", [[wall + fit, wall + fit, lip_z0], [wall + in_l - fit, wall + in_w - fit,
                                                         box_h]]);
echo("fit", "lip_t", lip_t);
echo("fit", "snap_ridge", [[out_l / 2 - snap_len / 2, snap_zc - snap_h / 2],
                           [out_l / 2 + snap_len / 2, snap_zc + snap_h / 2]]);
echo("fit", "snap_groove", [[out_l / 2 - snap_len / 2 - 1, snap_zc - snap_h / 2 - 0.3],
                            [out_l / 2 + snap_len / 2 + 1, snap_zc + snap_h / 2 + 0.3]]);
echo("fit", "led_window", [[led_cx - led_win_l / 2, led_cy - led_win_w / 2],
                           [led_cx + led_win_l / 2, led_cy + led_win_w / 2]]);
echo("fit", "led_at", [led_cx, led_cy]);
echo("fit", "antenna", [[ant_x0, ant_y0, box_h - antenna_t], [ant_x1, ant_y0 + antenna_w, box_h]]);
echo("fit", "antenna_space", [ant_end_max, ant_side_max]);
echo("fit", "antenna_place", ant_side ? "side" : "end");
echo("fit", "strap_tab", [[-tab_l, out_w / 2 - tab_w / 2, 0], [0, out_w / 2 + tab_w / 2, tab_t]]);
echo("fit", "strap_slot", [[-tab_gap - strap_slot, out_w / 2 - strap_w / 2],
                           [-tab_gap, out_w / 2 + strap_w / 2]]);

// ------------------------------------------------------------------ helpers
module rounded_rect(l, w, r) {
    offset(r = r) offset(delta = -r) square([l, w]);
}

module stadium_x(len, w, h) {
    // an opening through a wall normal to X: width w (Y), height h (Z), rounded ends
    r = min(w, h) / 2;
    rotate([0, 90, 0])
        linear_extrude(height = len)
            offset(r = r) offset(delta = -r) square([h, w], center = true);
}

module snap_profile(len, depth, h) {
    // a ridge along X with a triangular section: base h tall on the face, depth deep
    rotate([90, 0, 90]) linear_extrude(height = len, center = true)
        polygon([[0, -h / 2], [depth, 0], [0, h / 2]]);
}

// ------------------------------------------------------------------ box
module ledges() {
    // along the long walls; the 45 degree chamfer below prints without support
    for (side = [0, 1]) {
        y0 = side == 0 ? wall : wall + in_w - ledge;
        yw = side == 0 ? wall - 0.01 : wall + in_w;
        hull() {
            translate([wall - 0.01, y0, floor_t + tray_z - ledge]) cube([in_l + 0.02, ledge, ledge]);
            translate([wall - 0.01, yw, floor_t + ledge_z]) cube([in_l + 0.02, 0.01, 0.01]);
        }
    }
}

module motor_ring() {
    translate([motor_x, motor_y, floor_t - 0.01])
        difference() {
            cylinder(d = ring_od, h = motor_ring_h + 0.01);
            translate([0, 0, -1]) cylinder(d = ring_id, h = motor_ring_h + 2);
        }
}

module strap_tabs() {
    strap_tab();
    translate([out_l, 0, 0]) mirror([1, 0, 0]) strap_tab();
}

module strap_tab() {
    // at the -X end, on the bed; the slot is between the wall and the outer bar
    linear_extrude(height = tab_t)
        difference() {
            translate([-tab_l, out_w / 2 - tab_w / 2]) rounded_rect(tab_l + corner_r + 1, tab_w, 2);
            translate([-tab_gap - strap_slot, out_w / 2 - strap_w / 2]) square([strap_slot, strap_w]);
        }
}

module box() {
    difference() {
        union() {
            linear_extrude(height = box_h) rounded_rect(out_l, out_w, corner_r);
            if (strap == "slots") strap_tabs();
        }
        translate([wall, wall, floor_t]) cube([in_l, in_w, in_h + 1]);
        translate([-1, usb_y, usb_z]) stadium_x(wall + 2, usb_cut_w, usb_cut_h);
        translate([out_l - wall - 1, switch_yc, switch_zc]) stadium_x(wall + 2, slot_w, slot_h);
        // snap grooves in the long walls
        translate([out_l / 2, wall + 0.01, snap_zc]) mirror([0, 1, 0])
            snap_profile(snap_len + 2, snap + 0.11, snap_h + 0.6);
        translate([out_l / 2, wall + in_w - 0.01, snap_zc])
            snap_profile(snap_len + 2, snap + 0.11, snap_h + 0.6);
        // fingernail notch at the +X end, under the lid edge
        translate([out_l - wall - 1, out_w / 2 - pry_w / 2, box_h - 0.8]) cube([wall + 2, pry_w, 1]);
    }
    if (!flat) ledges();
    motor_ring();
}

// ------------------------------------------------------------------ lid (modelled in place)
module lid_in_place() {
    lw = in_l - 2 * fit;
    ww = in_w - 2 * fit;
    difference() {
        union() {
            translate([0, 0, box_h]) linear_extrude(height = lid_t)
                rounded_rect(out_l, out_w, corner_r);
            translate([wall + fit, wall + fit, lip_z0])
                difference() {
                    cube([lw, ww, lid_lip + 0.01]);
                    translate([lip_t, lip_t, -1]) cube([lw - 2 * lip_t, ww - 2 * lip_t, lid_lip + 2]);
                }
            // snap ridges on the lip's long sides
            translate([out_l / 2, wall + fit + 0.01, snap_zc]) mirror([0, 1, 0])
                snap_profile(snap_len, snap + 0.01, snap_h);
            translate([out_l / 2, wall + in_w - fit - 0.01, snap_zc])
                snap_profile(snap_len, snap + 0.01, snap_h);
        }
        if (led_win_l > 0)
            translate([led_cx - led_win_l / 2, led_cy - led_win_w / 2, box_h - 1])
                cube([led_win_l, led_win_w, lid_t + 1 - led_skin + (led_skin > 0 ? 0 : 1)]);
    }
}

module lid_for_print() {
    // flipped onto its outer face
    translate([0, out_w, box_h + lid_t]) rotate([180, 0, 0]) lid_in_place();
}

// ------------------------------------------------------------------ tray
module tray() {
    // in tray coordinates: origin at the tray's -X/-Y corner, the board's place starts at
    // (board_x0 - tray_x0, board_y0 - tray_y0)
    bx = board_x0 - tray_x0;
    by = board_y0 - tray_y0;
    pad = 3.0;
    difference() {
        cube([tray_l, tray_w, tray_t]);
        // window under the board: its underside pads (BAT+/BAT-) stay reachable and the wires
        // pass down to the cell and the switch
        translate([bx + pad, by + 2, -1]) cube([board_l - 2 * pad, board_w - 4, tray_t + 2]);
        // wire notch at the far (+X) end
        if (!flat) translate([tray_l - 4, tray_w / 2 - 4, -1]) cube([3, 8, tray_t + 2]);
        // outline of the IMU (0.4 mm deep)
        translate([imu_x0 - tray_x0, imu_y0 - tray_y0, tray_t - 0.4])
            difference() {
                cube([imu_l, imu_w, 1]);
                translate([0.6, 0.6, -1]) cube([imu_l - 1.2, imu_w - 1.2, 3]);
            }
    }
    // corner pads the board rests on, and a stop behind it that takes the USB plug's push
    for (ix = [0, 1], iy = [0, 1])
        translate([bx + ix * (board_l - pad), by + iy * (board_w - pad), tray_t - 0.01])
            cube([pad, pad, board_lift + 0.01]);
    translate([bx + board_l + 0.2, by + 2, tray_t - 0.01]) cube([1.0, board_w - 4, board_lift + 1.01]);
}

// ------------------------------------------------------------------ layout
spacing = max(out_w, strap == "slots" ? tab_w : 0) + 8;
if (part == "box") {
    box();
} else if (part == "lid") {
    lid_for_print();
} else if (part == "tray") {
    tray();
} else if (part == "assembly") {
    box();
    color("SteelBlue", 0.6) lid_in_place();
    color("Orange") translate([tray_x0, tray_y0, floor_t + tray_z]) tray();
} else {
    box();
    translate([0, spacing, 0]) lid_for_print();
    translate([0, spacing + out_w + 8, 0]) tray();
}
