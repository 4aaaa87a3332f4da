// The 3D viewer: a print bed in millimetres, the model standing on it, orbit/zoom/pan, reset view,
// wireframe, turning, bounding-box dimensions. Renders on demand (not every frame, unless it is
// turning): the page often runs on software WebGL and on small machines.
import * as THREE from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";
import { GLTFLoader } from "three/addons/loaders/GLTFLoader.js";

/** glTF's unit is the metre; ORFEAS models are made in millimetres. */
const MM_PER_METRE = 1000;
/** The smallest bed drawn: about a common 220 mm printer. */
const MIN_BED_MM = 220;

const BACKGROUND = 0x11141a;

export class Viewer {
  /** @param {HTMLElement} host the element the canvas goes into */
  constructor(host) {
    this.host = host;
    this.model = null;
    this.wireframe = false;
    this._frame = 0;
    this._home = null;

    this.renderer = new THREE.WebGLRenderer({ antialias: true });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    this.renderer.setClearColor(BACKGROUND, 1);
    const canvas = this.renderer.domElement;
    canvas.tabIndex = 0;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", "3D view of the model. Drag to orbit, scroll to zoom, arrow keys to pan.");
    host.prepend(canvas);

    this.scene = new THREE.Scene();
    this.camera = new THREE.PerspectiveCamera(40, 1, 0.5, 20000);
    this.scene.add(new THREE.HemisphereLight(0xf4f6ff, 0x30343c, 1.6));
    const key = new THREE.DirectionalLight(0xffffff, 2.2);
    key.position.set(-0.6, 1.4, 1.0);
    const rim = new THREE.DirectionalLight(0xb9c8ff, 0.8);
    rim.position.set(1.0, 0.6, -1.2);
    this.scene.add(key, rim);

    this.bed = new THREE.Group();
    this.scene.add(this.bed);
    this._buildBed(MIN_BED_MM);

    this.controls = new OrbitControls(this.camera, canvas);
    this.controls.enableDamping = true;
    this.controls.dampingFactor = 0.12;
    this.controls.maxPolarAngle = Math.PI * 0.495; // stay above the bed
    this.controls.listenToKeyEvents(canvas);
    this.controls.addEventListener("change", () => this.render());

    this._fit(new THREE.Box3(new THREE.Vector3(-70, 0, -70), new THREE.Vector3(70, 10, 70)));
    new ResizeObserver(() => this._resize()).observe(host);
    this._resize();
  }

  /** Draw the bed: a plate, 10 mm lines and stronger 50 mm lines, centred on the origin. */
  _buildBed(sizeMm) {
    for (const child of [...this.bed.children]) {
      this.bed.remove(child);
      child.geometry?.dispose();
      child.material?.dispose();
    }
    const size = Math.ceil(sizeMm / 50) * 50;
    const plate = new THREE.Mesh(
      new THREE.PlaneGeometry(size, size),
      new THREE.MeshStandardMaterial({ color: 0x1b1f27, roughness: 0.95, metalness: 0 }),
    );
    plate.rotation.x = -Math.PI / 2;
    plate.position.y = -0.05;
    const minor = new THREE.GridHelper(size, size / 10, 0x2a303b, 0x2a303b);
    const major = new THREE.GridHelper(size, size / 50, 0x48505f, 0x48505f);
    major.position.y = 0.02;
    for (const grid of [minor, major]) grid.material.depthWrite = false;
    this.bed.add(plate, minor, major);
    this.bedSize = size;
  }

  /**
   * Load a GLB (metres) and stand it on the bed in millimetres.
   * @param {string} url
   * @returns {Promise<{x: number, y: number, z: number}>} width, depth, height in mm
   */
  async load(url) {
    const gltf = await new GLTFLoader().loadAsync(url);
    this.clear();
    const root = gltf.scene;
    root.scale.setScalar(MM_PER_METRE);
    root.updateMatrixWorld(true);
    root.traverse((node) => {
      if (!node.isMesh) return;
      const colours = node.geometry.getAttribute("color");
      // The picture as a texture when the GLB carries one (sharper than vertex colours).
      const picture = node.material?.map ?? null;
      // A colour print's part: one mesh with a material of its colour (plain white: no colour).
      const own = node.material?.color;
      const part = !colours && !picture && own && own.getHex() !== 0xffffff ? own.getHex() : null;
      node.material = new THREE.MeshStandardMaterial({
        map: picture,
        vertexColors: Boolean(colours) && !picture,
        color: colours || picture ? 0xffffff : (part ?? 0xc9ced8),
        roughness: 0.62,
        metalness: 0.0,
        side: THREE.DoubleSide,
      });
    });
    // The GLB follows glTF: metres, +Y up, linear vertex colours, an sRGB texture — nothing to
    // convert but the unit.
    const holder = new THREE.Group();
    holder.add(root);
    holder.updateMatrixWorld(true);
    const box = new THREE.Box3().setFromObject(holder);
    const centre = box.getCenter(new THREE.Vector3());
    holder.position.set(-centre.x, -box.min.y, -centre.z);
    holder.updateMatrixWorld(true);
    const placed = new THREE.Box3().setFromObject(holder);
    const helper = new THREE.Box3Helper(placed, 0x7c8cff);
    helper.material.transparent = true;
    helper.material.opacity = 0.55;
    this.model = holder;
    this.boxHelper = helper;
    this.scene.add(holder, helper);
    const size = placed.getSize(new THREE.Vector3());
    this._buildBed(Math.max(MIN_BED_MM, 1.4 * Math.max(size.x, size.z)));
    this.setWireframe(this.wireframe);
    this._fit(placed);
    return { x: size.x, y: size.z, z: size.y };
  }

  clear() {
    if (!this.model) return;
    this.scene.remove(this.model, this.boxHelper);
    this.model.traverse((node) => {
      node.geometry?.dispose();
      node.material?.dispose();
    });
    this.boxHelper.dispose?.();
    this.model = null;
    this.boxHelper = null;
    this.render();
  }

  setWireframe(on) {
    this.wireframe = on;
    this.model?.traverse((node) => {
      if (node.isMesh) node.material.wireframe = on;
    });
    this.render();
  }

  /** Turn the model slowly about the vertical (the camera orbits; frames run while it turns). */
  setTurning(on) {
    this.controls.autoRotate = on;
    this.controls.autoRotateSpeed = 2.0; // one turn in 30 s
    this.render();
  }

  resetView() {
    if (!this._home) return;
    // Drop any orbit still easing out, or it would carry on from the home position.
    const damping = this.controls.enableDamping;
    this.controls.enableDamping = false;
    this.controls.update();
    this.controls.enableDamping = damping;
    this.camera.position.copy(this._home.position);
    this.controls.target.copy(this._home.target);
    this.controls.update();
    this.render();
  }

  /** Put the camera where the whole box is in view, from the front, a little right and above. */
  _fit(box) {
    this._box = box.clone();
    this._home = this._homeFor(box);
    this.resetView();
  }

  /** The home position for ``box`` at the current aspect ratio (the narrower field of view counts). */
  _homeFor(box) {
    const sphere = box.getBoundingSphere(new THREE.Sphere());
    const radius = Math.max(sphere.radius, 10);
    const vertical = THREE.MathUtils.degToRad(this.camera.fov / 2);
    const horizontal = Math.atan(Math.tan(vertical) * this.camera.aspect);
    const distance = (radius / Math.sin(Math.min(vertical, horizontal))) * 1.08;
    const direction = new THREE.Vector3(0.4, 1.2, 1.0).normalize();
    const target = sphere.center.clone();
    this.camera.near = Math.max(0.1, distance / 200);
    this.camera.far = distance * 50;
    this.camera.updateProjectionMatrix();
    this.controls.maxDistance = distance * 8;
    return { position: target.clone().addScaledVector(direction, distance), target };
  }

  _resize() {
    const { clientWidth: w, clientHeight: h } = this.host;
    if (!w || !h) return;
    this.renderer.setSize(w, h, false);
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
    if (this._box) {
      // A camera still at home moves to the new home (a phone turned, a window resized).
      const atHome = this.camera.position.distanceTo(this._home.position) < 1e-3;
      this._home = this._homeFor(this._box);
      if (atHome) this.resetView();
    }
    this.render();
  }

  /** Ask for a frame; frames continue only while the controls are still easing. */
  render() {
    if (this._frame) return;
    this._frame = requestAnimationFrame(() => {
      this._frame = 0;
      const moving = this.controls.update();
      this.renderer.render(this.scene, this.camera);
      this.host.dataset.viewer = "ready"; // for tests and styles: a frame has been drawn
      if (moving) this.render();
    });
  }
}

/** True when WebGL can be used here (the viewer is skipped, not broken, when it cannot). */
export function webglAvailable() {
  try {
    const canvas = document.createElement("canvas");
    return Boolean(canvas.getContext("webgl2") || canvas.getContext("webgl"));
  } catch {
    return false;
  }
}

