"""Render a GLB at a three-quarter view, headless: ``blender -b -P docs/render_glb.py -- in.glb out.png``.

Used for the README's pictures (docs/pictures/). Blender's Workbench engine shows the GLB's own
texture or vertex colours under studio light; no GPU is needed.
"""

import math
import sys

import bpy
import numpy
from mathutils import Vector

if not hasattr(numpy, "bool"):  # Debian's Blender 3.4 glTF importer still says np.bool
    numpy.bool = bool

source, target = sys.argv[sys.argv.index("--") + 1 :][:2]
size = 640

bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.import_scene.gltf(filepath=source)
objects = [o for o in bpy.context.scene.objects if o.type == "MESH"]
corners = [o.matrix_world @ Vector(c) for o in objects for c in o.bound_box]
low = Vector([min(c[i] for c in corners) for i in range(3)])
high = Vector([max(c[i] for c in corners) for i in range(3)])
centre = (low + high) / 2

camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
bpy.context.scene.collection.objects.link(camera)
direction = Vector((0.35, -1.0, 1.5)).normalized()  # front, a little right, well above
span = high - low
camera.location = centre + direction * max(span.x * 1.45, span.y * 2.4, span.z * 3.0)
camera.rotation_euler = (centre - camera.location).to_track_quat("-Z", "Y").to_euler()
camera.data.lens = 50
camera.data.clip_start = (high - low).length / 100  # small models are nearer than the default 0.1 m
bpy.context.scene.camera = camera

scene = bpy.context.scene
scene.render.engine = "BLENDER_WORKBENCH"
scene.display.shading.light = "STUDIO"
scene.display.shading.color_type = "TEXTURE"
scene.display.shading.show_shadows = True
scene.display.shading.show_cavity = True
scene.render.resolution_x = size
scene.render.resolution_y = int(size * 0.7)
scene.render.film_transparent = False
scene.world = bpy.data.worlds.new("world")
scene.world.color = (0.93, 0.94, 0.95)
scene.render.filepath = target
scene.render.image_settings.file_format = "PNG"
for o in objects:
    for material in o.data.materials:
        if material is not None:
            material.use_backface_culling = False
bpy.ops.render.render(write_still=True)
print(f"rendered {target} ({math.degrees(camera.rotation_euler.x):.0f}°)")
